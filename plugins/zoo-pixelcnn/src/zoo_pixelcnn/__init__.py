"""PixelCNN for zoo: ``pixelcnn/original``, ``pixelcnn/gated`` and ``pixelcnn/gated-conditional``.

Import nothing here: zoo loads ``zoo_pixelcnn.hooks`` (the entry point) to list the
architectures, and the model code (``original``, ``gated``) is imported only when a model
is built.
"""
