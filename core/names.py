"""The names search spaces offer and trainables accept (one list each, torch-free)."""

#: ``--precision`` choices; ``auto`` is bf16 autocast on a CUDA device that supports it.
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
#: Weight initialisations (``trainables.nets.init_weights``).
INIT_SCHEMES: tuple[str, ...] = ("default", "glorot_uniform", "he_normal", "zeros", "ones")
#: The reports' CNNs (``trainables.convnets.ReportCNN``).
CNN_ARCHS: tuple[str, ...] = ("cifar_cnn", "mnist_cnn", "ad_proposed", "ad_test1", "ad_test2")
#: ImageNet backbones of ``transfer``'s pretrained mode (``trainables.convnets.PretrainedNet``).
BACKBONES: tuple[str, ...] = ("vgg16", "resnet50", "resnet18")
#: ``select_epoch``: the reported model is the epoch with the best validation objective
#: (its weights restored before the test) or simply the last one.
SELECT_EPOCHS: tuple[str, ...] = ("best", "last")
#: What ``select_epoch=best`` maximises: the validation accuracy (the study's objective) or
#: the validation ROC AUC, which the classifier methods report and MedMNIST's own experiments
#: select their model on.
SELECT_METRICS: tuple[str, ...] = ("val_acc", "val_auc")
#: The result key of a method whose reported classifier starts after an earlier stage
#: (``ae_classifier``'s pretraining, ``gan_balance``'s GAN): that classifier's epochs so far,
#: 0 before it starts. ASHA counts such a method's rungs in it (``study.registry``), so it
#: never weighs an earlier stage's score against a classifier's.
CLASSIFIER_EPOCHS = "classifier_epochs"
#: What breaks a tie of the validation objective (lower wins), between the epochs of a trial
#: and between trials: on a small validation split (BreastMNIST's 78 images) many tie.
TIE_BREAK_METRIC = "val_loss"
#: k-NN options (``trainables.neighbors``), the reports' first: ``knn_metric`` (cosine:
#: L2-normalised codes), ``knn_weights`` (distance: 1/d votes) and ``knn_scale``
#: (standardize: per-dimension z-scores; whiten: principal axes scaled to unit variance;
#: both fitted on the reference codes).
KNN_METRICS: tuple[str, ...] = ("euclidean", "cosine")
KNN_WEIGHTS: tuple[str, ...] = ("uniform", "distance")
KNN_SCALES: tuple[str, ...] = ("none", "standardize", "whiten")
#: ResNet-18 stems (``trainables.convnets.resnet18``): torchvision's 7×7 stride-2 conv +
#: max-pool (report 004's), or MedMNIST v2's ResNet (28): 3×3 stride-1 conv, no pool.
RESNET_STEMS: tuple[str, ...] = ("imagenet", "small")
#: The classifier's training options (``trainables.classify`` says what each does), the
#: reports' first: ``lr_schedule``, ``class_weight``, ``sampler``, ``normalize``.
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine", "onecycle")
CLASS_WEIGHTS: tuple[str, ...] = ("none", "balanced")
SAMPLERS: tuple[str, ...] = ("uniform", "balanced")
NORMALIZATIONS: tuple[str, ...] = ("none", "dataset")
#: The weights a classifier is validated and tested with: its own (``none``, the reports') or
#: an exponential moving average of them, batch-norm statistics included, updated after every
#: optimiser step with decay ``ema_decay`` (``ema``; ``torch.optim.swa_utils``).
WEIGHT_AVERAGES: tuple[str, ...] = ("none", "ema")
#: The VAE's KL weight over epochs (``trainables.knn.kl_weight``): ``constant`` (report
#: 004's plain ELBO), ``warmup`` (linear from near 0 to ``beta``; Bowman et al. 2016) or
#: ``cyclical`` (ramps repeated over the trial; Fu et al. 2019).
BETA_SCHEDULES: tuple[str, ...] = ("constant", "warmup", "cyclical")
