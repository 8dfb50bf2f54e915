"""File names of a study's results directory (``<storage>/<name>/``, README "Results"), and
the config key that tells a trial's seed apart from its configuration's other seeds."""

#: The study spec, written when the study starts.
SPEC_FILE = "study.json"
#: Tune's saved Tuner: a study that has it can be resumed.
TUNER_FILE = "tuner.pkl"
#: The Optuna study of a searched study (OptunaSearch's journal; ``optuna-dashboard FILE``).
OPTUNA_JOURNAL = "optuna.journal"
#: Files that mark a directory as a study (so --overwrite never deletes anything else).
STUDY_MARKERS = (SPEC_FILE, TUNER_FILE)
#: A trial's checkpoint, inside Tune's ``checkpoint_NNNNNN/`` directories.
CHECKPOINT_FILE = "state.pt"
#: A trial's test labels and class scores, in its directory.
PREDICTIONS_FILE = "predictions.npz"
#: The result key of a diverged epoch, holding the reason (``trainables.faults``).
DIVERGED = "diverged"
#: A campaign's record of its settings, rows and finished studies (``study.reproduce``).
CAMPAIGN_MANIFEST = "campaign.json"
#: A trial's repeat index (0 .. ``--repeats`` - 1), as Tune's Repeater names it.
REPEAT_KEY = "__trial_index__"
