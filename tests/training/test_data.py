"""Data sets load, fit the network they train, and bad files say what is wrong."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nnstudio.api import Graph
from nnstudio.training.config import TrainConfig
from nnstudio.training.data import ModelIO, load_for_graph, resolve_loss, split_indices
from nnstudio.training.errors import DataError, DataMismatchError
from nnstudio.training.generated import SHAPE_KINDS
from tests.conftest import EXAMPLES_DIR
from tests.training.conftest import mlp


def example(name: str) -> Graph:
    return Graph.load(EXAMPLES_DIR / f"{name}.nnstudio")


def load(graph: Graph, **settings):
    return load_for_graph(graph, TrainConfig.from_settings({**graph.training, **settings}))


# --- built-in data sets ------------------------------------------------------------------------


def test_every_example_gets_data_that_fits_it(example_path: Path) -> None:
    graph = Graph.load(example_path)
    data = load_for_graph(graph, TrainConfig.from_settings(graph.training))
    io = ModelIO.of(graph)
    x, _ = data.train[0]
    assert tuple(x.shape) == io.input_shape
    assert len(data.train) > len(data.val) > 0
    loss = resolve_loss("auto", data, io)
    if data.task == "classification":
        assert io.output_shape == (data.num_classes,) and loss == "cross_entropy"
    else:  # an autoencoder's input, or a segmentation's masks (unet_small)
        assert data.task in ("reconstruction", "regression") and loss == "mse"
        assert io.output_shape == data.target_shape


def test_digits_are_the_bundled_8x8_digits() -> None:
    data = load(example("digits_cnn"))
    assert len(data.train) + len(data.val) == 1797
    assert data.num_classes == 10 and data.class_names == tuple("0123456789")
    # Raw, as scikit-learn ships them (counts 0..16): the model's Input preprocessing scales them.
    x = data.train.tensors[0]
    assert x.dtype == torch.float32 and float(x.min()) == 0.0 and float(x.max()) == 16.0


def test_circles_need_a_hidden_layer_and_moons_exist_too() -> None:
    graph = mlp()
    for name in ("circles", "moons"):
        data = load(graph, dataset=name)
        assert data.num_classes == 2 and data.sample_shape == (2,)
        labels = torch.cat([data.train.tensors[1], data.val.tensors[1]])
        assert set(labels.tolist()) == {0, 1}


def test_shapes_adapt_to_channels_size_and_classes() -> None:
    colour = load(example("googlenet_mini"))
    assert colour.sample_shape == (3, 32, 32) and colour.num_classes == 10
    assert colour.class_names == SHAPE_KINDS
    graph = mlp(inputs=(1, 16, 16), outputs=4)
    small = load(graph, dataset="shapes")
    assert small.train.tensors[0].shape[1:] == (1, 16, 16)
    assert small.num_classes == 4 and small.class_names == SHAPE_KINDS[:4]


def test_too_many_classes_for_shapes_is_refused() -> None:
    with pytest.raises(
        DataError, match="shapes data set makes 2 to 10 classes, but the network's Output gives 12"
    ):
        load(mlp(inputs=(1, 16, 16), outputs=12), dataset="shapes")


def test_sequences_match_the_lstm_example_and_need_the_whole_sequence() -> None:
    data = load(example("lstm_sequence"))
    x, y = data.train.tensors
    assert tuple(x.shape[1:]) == (50, 1) and data.num_classes == 2
    # The class is the sign of a drift far weaker than the noise: one step says little,
    # the whole sequence says a lot.
    first_step = ((x[:, 0, 0] > 0).long() == y).float().mean()
    whole = ((x.sum(dim=(1, 2)) > 0).long() == y).float().mean()
    assert first_step < 0.65 < 0.85 < whole


def test_the_same_seed_gives_the_same_split_and_another_seed_another() -> None:
    graph = mlp()
    a, b, c = load(graph, seed=1), load(graph, seed=1), load(graph, seed=2)
    assert torch.equal(a.val.tensors[0], b.val.tensors[0])
    assert not torch.equal(a.val.tensors[0], c.val.tensors[0])
    train, val = split_indices(10, 0.2, seed=0)
    assert len(val) == 2 and sorted([*train, *val]) == list(range(10))


# --- mismatches: one sentence naming both shapes -------------------------------------------------


def test_input_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(DataMismatchError) as info:
        load(example("lenet5"), dataset="digits")
    assert str(info.value) == (
        "The digits data set has samples of shape (1, 8, 8), but the Input 'image' takes "
        "(1, 32, 32); change the Input's shape to (1, 8, 8)."
    )


def test_class_count_mismatch_names_the_layer_to_change() -> None:
    with pytest.raises(DataMismatchError) as info:
        load(mlp(outputs=3), dataset="circles")
    message = str(info.value)
    assert "circles data set has 2 classes" in message
    assert "receives shape (3,) from 'fc2'" in message and "give 'fc2' 2 outputs" in message


def test_samples_with_the_same_values_are_reshaped_to_the_input() -> None:
    data = load(mlp(inputs=(64,), outputs=10), dataset="digits")
    assert data.train.tensors[0].shape[1:] == (64,)


def test_one_output_with_two_classes_uses_bce() -> None:
    graph = mlp(outputs=1)
    data = load(graph)
    assert resolve_loss("auto", data, ModelIO.of(graph)) == "bce_with_logits"


def test_reconstruction_targets_are_the_inputs() -> None:
    data = load(example("autoencoder"))
    x, target = data.train.tensors
    assert target is x and data.task == "reconstruction"
    # The targets the trainer uses are the inputs as the model's min-max preprocessing scales
    # them: 0..1, in a Sigmoid's range, though the raw digits go up to 16.
    from nnstudio.compiler.codegen import compile_graph
    from nnstudio.training.recipe import fit_preprocessing, input_targets

    model = compile_graph(example("autoencoder"))
    assert fit_preprocessing(model, x) == 1
    scaled = input_targets(model, x)
    assert float(scaled.min()) == 0.0 and float(scaled.max()) == pytest.approx(1.0)


# --- user files ---------------------------------------------------------------------------------------


def _xor_rows(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.int64)


def test_csv_with_header_and_named_string_labels(tmp_path: Path) -> None:
    x, y = _xor_rows()
    path = tmp_path / "points.csv"
    rows = ["kind,a,b"] + [f"{'same' if k else 'other'},{a},{b}" for (a, b), k in zip(x, y, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    data = load(mlp(), dataset=str(path), label_column="kind")
    assert data.class_names == ("other", "same") and data.num_classes == 2
    assert len(data.train) + len(data.val) == 40


def test_csv_without_header_takes_the_last_column_and_can_take_an_index(tmp_path: Path) -> None:
    x, y = _xor_rows()
    path = tmp_path / "points.csv"
    path.write_text("\n".join(f"{k};{a};{b}" for (a, b), k in zip(x, y, strict=True)))
    data = load(mlp(), dataset=str(path), label_column=0)
    assert data.num_classes == 2
    # By default the last column holds the labels: here fractions, so number targets.
    with pytest.raises(DataMismatchError, match=r"but its targets in points.csv have shape \(1,\)"):
        load(mlp(), dataset=str(path))


def test_csv_with_a_bad_cell_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,0\n3,oops,1\n")
    with pytest.raises(DataError, match=r"bad.csv, line 3, column 'b': 'oops' is not a number"):
        load(mlp(), dataset=str(path))


def test_csv_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match="not a text file"):
        load(mlp(), dataset=str(path))


def test_npz_with_x_and_y(tmp_path: Path) -> None:
    x, y = _xor_rows()
    np.savez(tmp_path / "xor.npz", x=x, y=y)
    data = load(mlp(), dataset=str(tmp_path / "xor.npz"))
    assert data.num_classes == 2 and data.train.tensors[0].dtype == torch.float32


def test_relative_paths_are_read_beside_the_project(tmp_path: Path) -> None:
    x, y = _xor_rows()
    np.savez(tmp_path / "xor.npz", x=x, y=y)
    graph = mlp()
    graph.training["dataset"] = "xor.npz"
    data = load_for_graph(graph, TrainConfig.from_settings(graph.training), base_dir=tmp_path)
    assert data.name == "xor.npz"


def test_npy_finds_its_labels_beside_it(tmp_path: Path) -> None:
    x, y = _xor_rows()
    np.save(tmp_path / "X_train.npy", x)
    np.save(tmp_path / "y_train.npy", y)
    assert load(mlp(), dataset=str(tmp_path / "X_train.npy")).num_classes == 2
    np.save(tmp_path / "inputs.npy", x)
    with pytest.raises(DataError, match="has no labels"):
        load(mlp(), dataset=str(tmp_path / "inputs.npy"))


def test_corrupt_and_pickled_numpy_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=r"broken.npz is not a readable .npz file"):
        load(mlp(), dataset=str(tmp_path / "broken.npz"))
    np.save(tmp_path / "objects_x.npy", np.array([{"a": 1}, {"b": 2}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"not a readable \.npy file"):
        load(mlp(), dataset=str(tmp_path / "objects_x.npy"))


def _image_folder(root: Path, size: int = 12, per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for name, value in (("dark", 40), ("light", 220)):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(value, 20, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def test_image_folder_is_read_on_demand_resized_and_converted(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "images")
    data = load(mlp(inputs=(1, 8, 8)), dataset=str(root))
    assert not data.in_memory and data.class_names == ("dark", "light")
    x, y = data.train[0]
    assert tuple(x.shape) == (1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_a_corrupt_image_is_named_before_training(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "images")
    (root / "dark" / "9.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError, match=r"The image .*9.png cannot be read"):
        load(mlp(inputs=(1, 8, 8)), dataset=str(root))


def _idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


def test_mnist_idx_files_with_their_test_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    _idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (30, 28, 28)), compress=True)
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 30), compress=True)
    _idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 255, (10, 28, 28)))
    _idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(10))
    data = load(mlp(inputs=(1, 28, 28), outputs=10), dataset=str(tmp_path))
    assert len(data.train) == 30 and len(data.val) == 10 and data.num_classes == 10


def test_a_truncated_idx_file_says_so(tmp_path: Path) -> None:
    _idx(tmp_path / "train-images-idx3-ubyte", np.zeros((30, 28, 28)))
    _idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(30))
    data = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(data[:-100])
    with pytest.raises(DataError, match="truncated or corrupt: its header promises 23,520 bytes"):
        load(mlp(inputs=(1, 28, 28), outputs=10), dataset=str(tmp_path))


def _cifar_batch(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    batch = {"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), "labels": list(rng.integers(0, 10, n))}
    batch["labels"] = [int(v) for v in batch["labels"]]
    path.write_bytes(pickle.dumps(batch, protocol=2))


def test_cifar_python_batches(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    _cifar_batch(folder / "data_batch_1", 20, 0)
    _cifar_batch(folder / "data_batch_2", 20, 1)
    _cifar_batch(folder / "test_batch", 8, 2)
    (folder / "batches.meta").write_bytes(
        pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}, protocol=2)
    )
    data = load(mlp(inputs=(3, 32, 32), outputs=10), dataset=str(tmp_path))
    assert len(data.train) == 40 and len(data.val) == 8
    assert data.class_names == tuple(f"c{i}" for i in range(10))


class _Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_cifar_batch_that_would_run_code_is_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({"data": _Exploit(), "labels": []}, protocol=2))
    with pytest.raises(DataError, match=r"refusing to load \w+\.print"):
        load(mlp(inputs=(3, 32, 32), outputs=10), dataset=str(tmp_path / "data_batch_1"))
    assert "must never run" not in capsys.readouterr().out


def test_an_unknown_name_lists_the_built_in_sets(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"no built-in data set 'mnist'.*digits, circles, moons, sequences, shapes"
    ):
        load(mlp(), dataset="mnist")
