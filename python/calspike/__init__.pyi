# calspike's public names, declared once. Type checkers read this file instead of __init__.py;
# at run time __init__.py reads it (lazy_loader.attach_stub) to load each name on first use.
# Only relative imports belong here: each `from .module import name as name` is a public name.
# The submodules a user may reach as attributes (calspike.config ...) are listed in __init__.py.

from ._version import __version__ as __version__
from .data import DataError as DataError
from .data import DataWarning as DataWarning
from .data import EmptyNeuronWarning as EmptyNeuronWarning
from .data import Recording as Recording
from .data import default_recordings as default_recordings
from .data import fetch_spikefinder as fetch_spikefinder
from .data import load_recordings as load_recordings
from .data import read_array as read_array
from .data import read_ground_truth as read_ground_truth
from .data import read_nwb as read_nwb
from .data import read_spikefinder as read_spikefinder
from .data import write_nwb_spikes as write_nwb_spikes
from .data import write_spikefinder_csv as write_spikefinder_csv
from .data.simulate import simulate as simulate
from .data.suite2p import read_suite2p as read_suite2p
from .errors import CalspikeWarning as CalspikeWarning
from .errors import MissingExtra as MissingExtra
from .errors import NoGroundTruthWarning as NoGroundTruthWarning
from .errors import UsageError as UsageError
from .feature_stacks import aligned_windows as aligned_windows
from .feature_stacks import features as features
from .models import CalciumVAE as CalciumVAE
from .models import SpikeClassifier as SpikeClassifier
from .models import SpikeRateModel as SpikeRateModel
from .models import ToyVAE as ToyVAE
from .preprocess import fill_gaps as fill_gaps
from .preprocess import noise_levels as noise_levels
from .preprocess import rebin_counts as rebin_counts
from .preprocess import resample as resample
from .preprocess import robust_normalise as robust_normalise
from .spikes.files import infer as infer
from .spikes.oasis import Deconvolution as Deconvolution
from .spikes.oasis import deconvolve as deconvolve
from .spikes.rate import FrameRateWarning as FrameRateWarning
from .spikes.rate import NoiseWarning as NoiseWarning
from .spikes.rate import infer_spike_rates as infer_spike_rates
from .spikes.rate import load_rate_model as load_rate_model
from .spikes.rate_training import train_rate_model as train_rate_model
from .spikes.score import score_files as score_files
from .training import fit as fit
from .training import load_model as load_model
from .tutorial.pipeline import RunResult as RunResult
from .tutorial.pipeline import run as run
from .windows import Windows as Windows
from .windows import partition as partition
from .windows import window_view as window_view
from .windows.sampling import balance as balance
from .windows.sampling import balanced_indices as balanced_indices
from .windows.sampling import split_by_neuron as split_by_neuron
from .windows.store import cached_partition as cached_partition
from .windows.store import load_windows as load_windows
from .windows.store import save_windows as save_windows

def build_info() -> dict[str, object]: ...
