"""Unit tests for the model tooling that need no download.

    python3 -m unittest discover -s tools/models -p 'test_*.py'

The end-to-end checks (real checkpoint, real photos, real WordNet) are the scripts
themselves; see assets/README.md.
"""

from __future__ import annotations

import io
import pickle
import struct
import sys
import types
import unittest
from collections import OrderedDict

import numpy as np

import build_imagenet_taxonomy as taxonomy
import convert_ssd_mobilenetv2_oidv4 as ssd
import efficientnet_lite0 as spec
import legacy_pth


class _FakeStorage:
    """Stands in for a torch storage while writing a legacy checkpoint by hand."""

    def __init__(self, key: str, data: np.ndarray):
        self.key = key
        self.data = data


def _write_legacy_checkpoint(tensors: dict[str, tuple[_FakeStorage, int, tuple, tuple]]) -> bytes:
    """Write the legacy format the way torch.save did, with fake torch modules."""
    torch_mod = types.ModuleType("torch")
    utils_mod = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
    float_storage = type("FloatStorage", (), {"__module__": "torch"})
    torch_mod.FloatStorage = float_storage
    torch_mod._utils = utils_mod

    class _Tensor:
        def __init__(self, storage, offset, size, stride):
            self.args = (storage, offset, size, stride, False, OrderedDict())

        def __reduce__(self):
            return (_rebuild_tensor_v2, self.args)

    storages: dict[str, _FakeStorage] = {}

    class _Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _FakeStorage):
                storages[obj.key] = obj
                return ("storage", float_storage, obj.key, "cpu", obj.data.size, None)
            return None

    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = torch_mod, utils_mod
    try:
        out = io.BytesIO()
        pickle.dump(legacy_pth.MAGIC_NUMBER, out, protocol=2)
        pickle.dump(legacy_pth.PROTOCOL_VERSION, out, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": 4}}, out, protocol=2)
        state = OrderedDict((name, _Tensor(*args)) for name, args in tensors.items())
        _Pickler(out, protocol=2).dump(state)
        keys = sorted(storages)
        pickle.dump(keys, out, protocol=2)
        for key in keys:
            data = storages[key].data.astype("<f4")
            out.write(struct.pack("<q", data.size))
            out.write(data.tobytes())
        return out.getvalue()
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class LegacyPthTest(unittest.TestCase):
    def test_reads_tensors_views_and_shared_storage(self):
        shared = _FakeStorage("7", np.arange(12, dtype=np.float32))
        other = _FakeStorage("10", np.array([5.0, 6.0], dtype=np.float32))
        data = _write_legacy_checkpoint({
            "a.weight": (shared, 0, (3, 4), (4, 1)),
            "a.transposed": (shared, 0, (4, 3), (1, 4)),
            "a.tail": (shared, 8, (4,), (1,)),
            "b.bias": (other, 0, (2,), (1,)),
        })
        state = legacy_pth.load_state_dict(data)
        self.assertEqual(list(state), ["a.weight", "a.transposed", "a.tail", "b.bias"])
        np.testing.assert_array_equal(state["a.weight"], np.arange(12).reshape(3, 4))
        np.testing.assert_array_equal(state["a.transposed"], np.arange(12).reshape(3, 4).T)
        np.testing.assert_array_equal(state["a.tail"], [8, 9, 10, 11])
        np.testing.assert_array_equal(state["b.bias"], [5, 6])
        self.assertEqual(state["b.bias"].dtype, np.float32)

    def test_refuses_unknown_globals(self):
        evil = io.BytesIO()
        for obj in (legacy_pth.MAGIC_NUMBER, legacy_pth.PROTOCOL_VERSION,
                    {"little_endian": True}):
            pickle.dump(obj, evil, protocol=2)
        evil.write(b"cos\nsystem\n(S'true'\ntR.")
        with self.assertRaises(pickle.UnpicklingError):
            legacy_pth.load_state_dict(evil.getvalue())

    def test_rejects_truncated_and_zip_files(self):
        storage = _FakeStorage("1", np.ones(4, dtype=np.float32))
        data = _write_legacy_checkpoint({"w": (storage, 0, (4,), (1,))})
        with self.assertRaises(ValueError):
            legacy_pth.load_state_dict(data[:-3])
        with self.assertRaises(Exception):
            legacy_pth.load_state_dict(b"PK\x03\x04" + b"\0" * 64)


class ArchitectureTest(unittest.TestCase):
    def test_block_table_matches_models_md(self):
        blocks = spec.blocks()
        self.assertEqual(len(blocks), 16)
        self.assertEqual(sum(b.residual for b in blocks), 9)
        self.assertEqual([b.stride for b in blocks if b.stride == 2], [2, 2, 2, 2])
        # 4.69 M parameters, as the checkpoint has (BatchNorm counters excluded)
        params = sum(int(np.prod(s)) for s in spec.expected_shapes().values())
        self.assertEqual(params, 4_694_024)


class TaxonomyTest(unittest.TestCase):
    def test_title_case(self):
        cases = {
            "soft-coated wheaten terrier": "Soft-Coated Wheaten Terrier",
            "black-and-white colobus": "Black-and-White Colobus",
            "potter's wheel": "Potter's Wheel",
            "iPod": "iPod",
            "CD player": "CD Player",
            "hen of the woods": "Hen of the Woods",
            "T-shirt": "T-Shirt",
        }
        for text, expected in cases.items():
            self.assertEqual(taxonomy.title_case(text), expected)

    def test_tables_name_synsets_once(self):
        wnids = [w for w, _, _ in taxonomy.ANCESTORS]
        self.assertEqual(len(wnids), len(set(wnids)))
        self.assertTrue(all(0 <= i < 1000 for i in taxonomy.NAME_OVERRIDES))


class SsdConverterTest(unittest.TestCase):
    def test_same_padding_puts_the_odd_pixel_at_the_end(self):
        # 300 -> 150 with a 3x3 kernel, stride 2: 1 pixel of padding, after.
        self.assertEqual(ssd.same_pads(300, 3, 2, 1), (0, 1))
        self.assertEqual(ssd.same_pads(19, 3, 1, 1), (1, 1))
        self.assertEqual(ssd.same_pads(10, 1, 1, 1), (0, 0))
        # 19 -> 10 with stride 2: (10-1)*2 + 3 - 19 = 2, split evenly.
        self.assertEqual(ssd.same_pads(19, 3, 2, 1), (1, 1))

    def test_flatbuffer_tables_are_read_by_field(self):
        # A hand-made buffer: root offset, a vtable of three fields and a table holding an int32
        # (field 0), a vector of two int32 (field 1) and a string (field 2).
        table_at, vtable_at = 24, 8
        buf = bytearray(64)
        struct.pack_into("<I", buf, 0, table_at)
        struct.pack_into("<HHHHH", buf, vtable_at, 10, 16, 4, 8, 12)
        struct.pack_into("<i", buf, table_at, table_at - vtable_at)
        struct.pack_into("<i", buf, table_at + 4, -7)
        vector_at, string_at = 40, 52
        struct.pack_into("<I", buf, table_at + 8, vector_at - (table_at + 8))
        struct.pack_into("<I", buf, table_at + 12, string_at - (table_at + 12))
        struct.pack_into("<Iii", buf, vector_at, 2, 300, 3)
        struct.pack_into("<I3s", buf, string_at, 3, b"abc")
        table = ssd.Table(bytes(buf), table_at)
        self.assertEqual(table.scalar(0, "i"), -7)
        self.assertEqual(table.ints(1), [300, 3])
        self.assertEqual(table.string(2), "abc")
        # Absent fields give their defaults.
        self.assertEqual(table.scalar(5, "i", 1), 1)
        self.assertEqual(table.ints(4), [])
        self.assertIsNone(table.table(3))

    def test_a_wrong_tarball_is_refused_before_anything_is_read(self):
        import tempfile
        from pathlib import Path
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.tgz"
            path.write_bytes(b"not the package")
            with self.assertRaisesRegex(ValueError, "expected fc3e37b3"):
                ssd.extract_tflite(path)


if __name__ == "__main__":
    unittest.main()
