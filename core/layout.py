"""File names of a study's results directory (``<storage>/<name>/``, README "Results")."""

#: The study spec, written when the study starts.
SPEC_FILE = "study.json"
#: Tune's saved Tuner: a study that has it can be resumed.
TUNER_FILE = "tuner.pkl"
#: Files that mark a directory as a study (so --overwrite never deletes anything else).
STUDY_MARKERS = (SPEC_FILE, TUNER_FILE)
#: A trial's checkpoint, inside Tune's ``checkpoint_NNNNNN/`` directories.
CHECKPOINT_FILE = "state.pt"
#: A trial's test labels and class scores, in its directory.
PREDICTIONS_FILE = "predictions.npz"
#: The result key of a diverged epoch, holding the reason (``trainables.faults``).
DIVERGED = "diverged"
