"""The shipped PIQ decoders: size, recorded digest, safe loading, matching classifier."""

import pytest
import torch

from lab.errors import CheckpointError
from lab.models.pretrained import checkpoint_info
from lab.piq.interpreter import VARIANTS, PIQInterpreter, pretrained_path, sha256_of
from lab.piq.train import VARIANT_SETTINGS


@pytest.mark.parametrize("variant", VARIANTS)
def test_shipped_decoder_loads_and_matches_the_classifier(variant):
    torch.set_num_threads(1)
    path = pretrained_path(variant)
    assert path.stat().st_size <= 10 * 2**20
    assert sha256_of(path) == path.with_suffix(".sha256").read_text().split()[0]
    state = torch.load(path, map_location="cpu", weights_only=True)
    # trained on the classifier that is shipped now (retraining it makes the decoder stale)
    assert state["provenance"]["classifier_sha256"] == checkpoint_info("classifier")["sha256"]
    piq = PIQInterpreter.from_pretrained(variant=variant)
    assert (piq.config["fidelity_weight"] > 0) == (variant == "piq_fidelity")
    # shipped with the settings `python -m lab.piq.train --variant <variant>` uses
    settings = {k: v for k, v in VARIANT_SETTINGS[variant].items() if k != "epochs"}
    assert {k: piq.config[k] for k in settings} == settings
    assert piq.epoch == VARIANT_SETTINGS[variant]["epochs"]
    out = piq.interpret(torch.rand(30, 257).numpy() * 5)
    assert out.mask.shape == (30, 257) and 0 < out.mask_area <= 1


def test_corrupted_decoder_is_refused(tmp_path):
    path = tmp_path / "piq.pt"
    data = bytearray(pretrained_path("piq").read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    path.with_suffix(".sha256").write_text(pretrained_path("piq").with_suffix(".sha256").read_text())
    with pytest.raises(CheckpointError, match=f"checkpoint {path} has sha256"):
        PIQInterpreter.from_pretrained(path=path)
