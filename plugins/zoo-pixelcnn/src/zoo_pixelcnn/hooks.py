"""Registers the PixelCNN architectures exactly as a third-party plugin would; imports no torch."""

from zoo_core.hookspecs import hookimpl


def _original(**config):
    from zoo_pixelcnn.original import PixelCNN

    return PixelCNN(**config)


def _gated(**config):
    from zoo_pixelcnn.gated import GatedPixelCNN

    return GatedPixelCNN(**config)


def _gated_conditional(**config):
    from zoo_pixelcnn.gated import ConditionalGatedPixelCNN

    return ConditionalGatedPixelCNN(**config)


@hookimpl
def zoo_register_architectures(register):
    register("pixelcnn/original", _original, task="density")
    register("pixelcnn/gated", _gated, task="density")
    register("pixelcnn/gated-conditional", _gated_conditional, task="conditional")
