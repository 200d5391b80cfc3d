"""Tools/extract-clip-tokens against the same CLIP called directly.

A small random-weight CLIP ViT (the openai-clip model code at 224², patch 32: 50 tokens per frame,
width 64, one layer; W = 32) is saved as a state_dict; three videos are written with OpenCV; the
tool extracts them and `mamfusion import` writes the CLIP token file. The test then decodes the
frames itself (one per second, linspace to T), runs CLIP's encode_image (the [CLS] token) and the
visual transformer's output through ln_post and proj (every token), and encode_text on the
truncated captions, and compares with the file: the layout (ids, offsets, captions, splits, the
padding frame) exactly, the values to float16 rounding. It also checks that a second run resumes
(recomputes only what was removed) and gives the same file.

Run with `Launch/test --extraction` (or `python3 -m unittest Tools/tests/test_extract_clip_tokens.py`
with MAMFUSION pointing at a built mamfusion). Skipped, saying what is missing, without torch,
openai-clip, torchvision, opencv-python-headless, h5py or numpy.
"""
import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "extract-clip-tokens"
NEEDED = ["torch", "torchvision", "clip", "cv2", "PIL", "h5py", "numpy"]
MISSING = [m for m in NEEDED if importlib.util.find_spec(m) is None]


@unittest.skipIf(MISSING, f"needs {', '.join(MISSING)} (pip install torch torchvision openai-clip opencv-python-headless pillow h5py numpy)")
class ExtractCLIPTokensTest(unittest.TestCase):
    MAX_FRAMES = 12
    # (video id, frames per second, frames): 1 frame per second gives 3, 20 (→ 12 by linspace) and 1 frames.
    VIDEOS = [("clip_a", 5, 11), ("clip_b", 2, 39), ("clip_c", 4, 2)]
    CAPTIONS = [
        ("clip_a#0", "clip_a", "a red square moves to the left", "train"),
        ("clip_a#1", "clip_a", "something happens", "test"),
        ("clip_b#0", "clip_b", " ".join(["a very long caption that goes on"] * 8), "train"),
        ("clip_c#0", "clip_c", "one frame only", "val"),
    ]

    @classmethod
    def setUpClass(cls):
        import cv2
        import numpy as np
        import torch
        from clip.model import CLIP
        cls.dir = tempfile.TemporaryDirectory()
        root = Path(cls.dir.name)
        torch.manual_seed(21)
        model = CLIP(embed_dim=32, image_resolution=224, vision_layers=1, vision_width=64, vision_patch_size=32,
                     context_length=77, vocab_size=49408, transformer_width=64, transformer_heads=1, transformer_layers=1)
        # A random CLIP has LayerNorms at 1/0 and tiny projections: spread the values so that
        # float16 rounding is a fair test of every token.
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        torch.save(model.state_dict(), root / "weights.pt")
        (root / "videos").mkdir()
        rng = np.random.default_rng(3)
        for video, fps, count in cls.VIDEOS:
            writer = cv2.VideoWriter(str(root / "videos" / f"{video}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), fps, (320, 240))
            for _ in range(count):
                writer.write(rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8))
            writer.release()
        with open(root / "captions.tsv", "w") as f:
            f.write("caption_id\tvideo_id\ttext\tsplit\n")
            for row in cls.CAPTIONS:
                f.write("\t".join(row) + "\n")
        cls.root = root
        cls.out = root / "collection.h5"
        cls.first = cls.run_tool(cls, keep=True)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def run_tool(self, keep):
        command = [sys.executable, str(TOOL), "--weights", str(self.root / "weights.pt"), "--videos", str(self.root / "videos"),
                   "--captions", str(self.root / "captions.tsv"), "--collection", "toy", "--out", str(self.out),
                   "--max-frames", str(self.MAX_FRAMES), "--batch", "5"] + (["--keep-parts"] if keep else [])
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise AssertionError(f"extract-clip-tokens failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def reference(self):
        """What the file must hold, from CLIP called directly on frames decoded here."""
        import cv2
        import numpy as np
        import torch
        from PIL import Image
        import clip
        from clip.clip import _transform
        from clip.model import build_model
        model = build_model(torch.load(self.root / "weights.pt", weights_only=True)).float().eval()
        preprocess = _transform(224)
        captured = {}
        model.visual.transformer.register_forward_hook(lambda module, inputs, output: captured.__setitem__("tokens", output))
        tokens = {}
        with torch.no_grad():
            for video, fps, count in self.VIDEOS:
                capture = cv2.VideoCapture(str(self.root / "videos" / f"{video}.avi"))
                frames = []
                for index in range(0, count, fps):  # one frame per second
                    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
                    ok, frame = capture.read()
                    self.assertTrue(ok)
                    frames.append(Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
                if len(frames) > self.MAX_FRAMES:
                    frames = [frames[int(i)] for i in np.linspace(0, len(frames) - 1, self.MAX_FRAMES)]
                images = torch.stack([preprocess(f) for f in frames])
                cls = model.encode_image(images)  # CLIP itself: ln_post and proj of the [CLS] token
                every = model.visual.ln_post(captured["tokens"].permute(1, 0, 2)) @ model.visual.proj
                torch.testing.assert_close(every[:, 0, :], cls, rtol=0, atol=1e-6)
                tokens[video] = every.numpy()
            model.encode_image(torch.zeros(1, 3, 224, 224))
            padding = (model.visual.ln_post(captured["tokens"].permute(1, 0, 2)) @ model.visual.proj)[0].numpy()
            texts = [c[2] for c in self.CAPTIONS]
            words = [clip.tokenize(t, truncate=True)[0] for t in texts]
            # CLIP4Clip keeps [SOT] + 30 BPE tokens + [EOT] (32): truncate the long caption the same way.
            for w in words:
                end = int(w.argmax())
                if end > 31:
                    w[31] = w[end]
                    w[32:] = 0
            embeddings = model.encode_text(torch.stack(words)).numpy()
        return tokens, padding, embeddings

    def assert_half(self, stored, expected, what):
        import numpy as np
        expected = np.asarray(expected, dtype=np.float32)
        self.assertEqual(stored.dtype, np.float16, what)
        self.assertEqual(stored.shape, expected.shape, what)
        # float16 of the same float32 values, up to one float16 step (the tool and the reference
        # may differ in the last float32 bits).
        step = np.abs(np.spacing(expected.astype(np.float16)).astype(np.float32))
        worst = float(np.max(np.abs(stored.astype(np.float32) - expected) - step))
        self.assertLessEqual(worst, 1e-7, f"{what}: beyond one float16 step by {worst}")

    def test_layout_and_values(self):
        import h5py
        tokens, padding, embeddings = self.reference()
        with h5py.File(self.out, "r") as f:
            self.assertEqual(f.attrs["format"], "mamfusion-clip-tokens")
            self.assertEqual((int(f.attrs["width"]), int(f.attrs["grid"]), int(f.attrs["max_frames"])), (32, 7, self.MAX_FRAMES))
            ids = [s.decode() if isinstance(s, bytes) else s for s in f["videos/ids"][()]]
            # Videos in first appearance over the splits (train, val, test).
            self.assertEqual(ids, ["clip_a", "clip_b", "clip_c"])
            offsets = f["videos/offsets"][()].tolist()
            self.assertEqual(offsets, [0, 3, 15, 16])
            for v, video in enumerate(ids):
                self.assert_half(f["videos/tokens"][offsets[v]:offsets[v + 1]], tokens[video], f"tokens of {video}")
            self.assert_half(f["videos/padding_frame"][()], padding, "padding frame")
            captions = [s.decode() if isinstance(s, bytes) else s for s in f["captions/ids"][()]]
            self.assertEqual(captions, ["clip_a#0", "clip_b#0", "clip_c#0", "clip_a#1"])
            order = [next(i for i, c in enumerate(self.CAPTIONS) if c[0] == name) for name in captions]
            self.assert_half(f["captions/embeddings"][()], embeddings[order], "caption embeddings")
            self.assertEqual(f["captions/video_index"][()].tolist(), [0, 1, 2, 0])
            self.assertEqual({s: f["splits"][s][()].tolist() for s in f["splits"]}, {"train": [0, 1], "val": [2], "test": [3]})
        inspect = subprocess.run([os.environ.get("MAMFUSION", "mamfusion"), "inspect", str(self.out), "--scan-values"], capture_output=True, text=True)
        self.assertEqual(inspect.returncode, 0, inspect.stdout + inspect.stderr)

    def test_resume(self):
        parts = Path(str(self.out) + ".parts")
        before = self.out.read_bytes()
        (parts / "videos" / "clip_b.npy").unlink()
        (parts / "queries" / "clip_c#0.npy").unlink()
        self.out.unlink()
        second = self.run_tool(keep=False)
        self.assertIn("2 already extracted", second.stderr)
        self.assertIn("1 to extract", second.stderr)
        self.assertIn("1 to embed", second.stderr)
        self.assertFalse(parts.exists(), "the parts are removed once the file is written")
        # The same values as the first run's file.
        import h5py
        import numpy as np
        with h5py.File(self.out, "r") as f:
            tokens = f["videos/tokens"][()]
        with tempfile.NamedTemporaryFile(suffix=".h5") as old:
            old.write(before)
            old.flush()
            with h5py.File(old.name, "r") as f:
                np.testing.assert_array_equal(f["videos/tokens"][()], tokens)


if __name__ == "__main__":
    unittest.main()
