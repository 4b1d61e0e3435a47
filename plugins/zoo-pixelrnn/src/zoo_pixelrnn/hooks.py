"""Registers the PixelRNN architectures exactly as a third-party plugin would; imports no torch."""

from zoo_core.hookspecs import hookimpl


def _row_lstm(**config):
    from zoo_pixelrnn.row_lstm import RowLSTM

    return RowLSTM(**config)


def _row_lstm_conditional(**config):
    from zoo_pixelrnn.row_lstm import ConditionalRowLSTM

    return ConditionalRowLSTM(**config)


def _diagonal_bilstm(**config):
    from zoo_pixelrnn.diagonal_bilstm import DiagonalBiLSTM

    return DiagonalBiLSTM(**config)


@hookimpl
def zoo_register_architectures(register):
    register("pixelrnn/row-lstm", _row_lstm, task="density")
    register("pixelrnn/row-lstm-conditional", _row_lstm_conditional, task="conditional")
    register("pixelrnn/diagonal-bilstm", _diagonal_bilstm, task="density")
