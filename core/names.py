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
