import pytest
import torch
from readout_cases import batch_positions


@pytest.fixture(scope="module")
def positions() -> torch.Tensor:
    return batch_positions()
