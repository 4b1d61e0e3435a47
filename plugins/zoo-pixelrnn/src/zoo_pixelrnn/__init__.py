"""PixelRNN for zoo: ``pixelrnn/row-lstm``, ``pixelrnn/row-lstm-conditional``, ``pixelrnn/diagonal-bilstm``.

Import nothing here: zoo loads ``zoo_pixelrnn.hooks`` (the entry point) to list the
architectures, and the model code (``row_lstm``, ``diagonal_bilstm``) is imported only when
a model is built.
"""
