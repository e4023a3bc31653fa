"""MFCCPanel shows model transcriptions and CTC posteriors through model_transcriber."""

import numpy as np
import torch

from lab.data import Corpus
from lab.models import DeepSpeech, Transducer, ctc_posteriors, transcribe
from lab.widgets import MFCCPanel
from lab.widgets.model_transcribers import model_transcriber


def test_panel_shows_transcripts_and_posteriors():
    corpus = Corpus("test", cache=False)
    torch.manual_seed(0)
    ctc = DeepSpeech(n_hidden=16).eval()
    rnnt = Transducer(conv_channels=8, encoder_hidden=8, predictor_hidden=8, joint_dim=8).eval()
    panel = MFCCPanel({"first": corpus.root / corpus.rows[0].path},
                      transcribers={"ctc": model_transcriber(ctc),
                                    "rnnt": model_transcriber(rnnt)})
    rows = panel.transcripts.children
    assert len(rows) == 2
    ctc_row, rnnt_row = rows
    assert ctc_row.children[0].value == f"<b>ctc</b>: {transcribe(ctc, panel.waveform)}"
    assert "lab-mfcc-posteriors-view" in ctc_row.children[1]._dom_classes
    ctc_view = panel.views[3]
    assert ctc_view.labels()["rows"][:3] == ["blank", "space", "a"]
    assert ctc_view.labels()["colorbar"] == "probability"
    assert panel.decoded_view.labels()["rows"] == ["ctc", "rnnt"]
    # The transducer's posteriors come from its auxiliary CTC head, at the encoder's 40 ms rate.
    rnnt_result = panel.transcribe(panel.waveform, panel.sr)["rnnt"]
    assert rnnt_result.posteriors.shape == (
        (ctc_posteriors(ctc, panel.waveform).shape[0] + 1) // 2, 29)
    assert "lab-mfcc-posteriors-view" in rnnt_row.children[1]._dom_classes
    # the transducer's symbols are placed by the Viterbi path of its own lattice
    assert rnnt_result.tokens is not None
    assert rnnt_result.n_frames == rnnt_result.posteriors.shape[0]
    assert model_transcriber(rnnt, posteriors=False)(panel.waveform, 16000).posteriors is None

    result = panel.transcribe(panel.waveform, panel.sr)["ctc"]
    np.testing.assert_allclose(result.posteriors, ctc_posteriors(ctc, panel.waveform))
    assert result.posteriors.shape[1] == 29
    np.testing.assert_allclose(result.posteriors.sum(axis=1), 1.0, rtol=1e-5)
