"""Every dataset builder in dataset_scripts/ on a tiny fake tree written in the data set's official layout."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from nlv_hf.data import formats

REPO = Path(__file__).resolve().parents[2]
H, W = 6, 8


def load_builder(name: str, class_name: str):
    module_name = f"dataset_scripts.{name}.{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, REPO / "dataset_scripts" / name / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return getattr(sys.modules[module_name], class_name)


def image(path: Path, seed: int, size=(H, W), fmt=None) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    PIL.Image.fromarray(pixels).save(path, format=fmt)
    return pixels


def disparity(seed: int, size=(H, W)) -> np.ndarray:
    values = np.round(np.random.default_rng(seed).uniform(1, 60, size) * 256) / 256
    values[0, 0] = np.inf  # one invalid pixel
    return values.astype(np.float32)


def flow(seed: int, size=(H, W)) -> np.ndarray:
    return np.round(np.random.default_rng(seed).uniform(-40, 40, (*size, 2)) * 64).astype(np.float32) / 64


def build(builder_cls, tmp_path: Path, data_dir: Path, config_name: str):
    builder = builder_cls(config_name=config_name, data_dir=str(data_dir), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    return builder, builder.as_dataset()


def check_disparity(example, expected: np.ndarray):
    valid = np.isfinite(expected) & (expected > 0)
    assert example["disparity"].shape == expected.shape and example["disparity"].dtype == np.float32
    np.testing.assert_array_equal(example["valid"], valid)
    np.testing.assert_array_equal(example["disparity"][valid], expected[valid])
    assert np.isposinf(example["disparity"][~valid]).all()


def check_flow(example, expected: np.ndarray, valid: np.ndarray | None = None):
    valid = np.isfinite(expected).all(-1) if valid is None else valid
    assert example["flow"].shape == (2, *expected.shape[:2]) and example["flow"].dtype == np.float32
    np.testing.assert_array_equal(example["valid"], valid)
    np.testing.assert_array_equal(example["flow"].transpose(1, 2, 0)[valid], expected[valid])
    assert np.isposinf(example["flow"][:, ~valid]).all()


def test_kitti_2015_stereo_and_flow_and_streaming(tmp_path):
    root = tmp_path / "kitti15"
    truth = {}
    for i in range(2):
        frame = f"{i:06d}"
        left = image(root / "training/image_2" / f"{frame}_10.png", i)
        image(root / "training/image_3" / f"{frame}_10.png", 10 + i)
        image(root / "training/image_2" / f"{frame}_11.png", 20 + i)
        truth[frame] = disparity(i)
        (root / "training/disp_occ_0").mkdir(parents=True, exist_ok=True)
        formats.write_kitti_disparity(root / "training/disp_occ_0" / f"{frame}_10.png", truth[frame])
        (root / "training/flow_occ").mkdir(parents=True, exist_ok=True)
        f = flow(i)
        valid = np.ones((H, W), bool)
        valid[1, 2] = False
        formats.write_kitti_flow(root / "training/flow_occ" / f"{frame}_10.png", f, valid)
        truth[frame + "flow"] = (f, valid)
        image(root / "testing/image_2" / f"{frame}_10.png", 30 + i)
        image(root / "testing/image_3" / f"{frame}_10.png", 40 + i)
    KITTI = load_builder("kitti", "KITTI")

    builder, ds = build(KITTI, tmp_path, root, "2015")
    assert set(ds) == {"train", "test"} and ds["train"].num_rows == 2 and ds["test"].num_rows == 2
    example = ds["train"].with_format("numpy")[1]
    assert example["id"] == "training/000001" and example["frame"] == "000001"
    check_disparity(example, truth["000001"])
    assert example["image_1"].shape == (H, W, 3)
    np.testing.assert_array_equal(example["image_1"], np.asarray(PIL.Image.open(root / "training/image_2/000001_10.png")))
    test_example = ds["test"][0]
    assert test_example["disparity"] is None and test_example["valid"] is None

    streamed = list(builder.as_streaming_dataset(split="train").with_format("numpy"))
    assert [e["id"] for e in streamed] == ["training/000000", "training/000001"]
    check_disparity(streamed[0], truth["000000"])

    _, ds = build(KITTI, tmp_path, root, "2015_flow")
    example = ds["train"].with_format("numpy")[0]
    f, valid = truth["000000flow"]
    check_flow(example, f, valid)
    np.testing.assert_array_equal(example["image_2"], np.asarray(PIL.Image.open(root / "training/image_2/000000_11.png")))


def test_kitti_2012_layout(tmp_path):
    root = tmp_path / "kitti12"
    image(root / "training/colored_0/000000_10.png", 0)
    image(root / "training/colored_1/000000_10.png", 1)
    (root / "training/disp_noc").mkdir(parents=True)
    truth = disparity(3)
    formats.write_kitti_disparity(root / "training/disp_noc/000000_10.png", truth)
    KITTI = load_builder("kitti", "KITTI")
    builder = KITTI(config_name="2012", ground_truth="noc", data_dir=str(root), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    ds = builder.as_dataset()
    assert list(ds) == ["train"]
    check_disparity(ds["train"].with_format("numpy")[0], truth)
    with pytest.raises(ValueError, match="ground_truth must be"):
        KITTI(config_name="2012", ground_truth="all", data_dir=str(root), cache_dir=str(tmp_path / "cache"))


def test_middlebury_2014_and_eval3(tmp_path):
    root = tmp_path / "md2014"
    scene = root / "Adirondack-perfect"
    image(scene / "im0.png", 0)
    image(scene / "im1.png", 1)
    image(scene / "im1E.png", 2)
    truth = disparity(4)
    truth[2, 3] = -1.0  # non-positive values are invalid too, as upstream
    formats.write_pfm(scene / "disp0.pfm", truth)
    Middlebury = load_builder("middlebury", "Middlebury")
    _, ds = build(Middlebury, tmp_path, root, "2014")
    rows = ds["train"].with_format("numpy")
    assert list(rows["id"]) == ["Adirondack-perfect/im1", "Adirondack-perfect/im1E"]
    assert list(rows["right_view"]) == ["", "E"]
    check_disparity(rows[1], truth)

    root = tmp_path / "MiddEval3"
    image(root / "trainingQ/Motorcycle/im0.png", 5)
    image(root / "trainingQ/Motorcycle/im1.png", 6)
    formats.write_pfm(root / "trainingQ/Motorcycle/disp0GT.pfm", truth)
    image(root / "testQ/Plants/im0.png", 7)
    image(root / "testQ/Plants/im1.png", 8)
    _, ds = build(Middlebury, tmp_path, root, "eval3_Q")
    assert ds["train"][0]["id"] == "trainingQ/Motorcycle" and ds["test"][0]["disparity"] is None
    check_disparity(ds["train"].with_format("numpy")[0], truth)


def test_middlebury_2021_ambient_views(tmp_path):
    root = tmp_path / "md2021"
    scene = root / "artroom1"
    image(scene / "im0.png", 0)
    image(scene / "im1.png", 1)
    image(scene / "ambient/L0/im0e0.png", 2)
    image(scene / "ambient/L0/im1e0.png", 3)
    image(scene / "ambient/L0/im0e1.png", 4)  # no matching right image: skipped
    truth = disparity(5)
    formats.write_pfm(scene / "disp0.pfm", truth)
    Middlebury = load_builder("middlebury", "Middlebury")
    _, ds = build(Middlebury, tmp_path, root, "2021")
    rows = ds["train"].with_format("numpy")
    assert list(rows["id"]) == ["artroom1/im1", "artroom1/ambient/L0/e0"]
    np.testing.assert_array_equal(rows[1]["image_2"], np.asarray(PIL.Image.open(scene / "ambient/L0/im1e0.png")))
    check_disparity(rows[1], truth)


def test_middlebury_2006_png_disparity(tmp_path):
    root = tmp_path / "md2006"
    for illumination in ("Illum1", "Illum2"):
        image(root / f"Aloe/{illumination}/Exp0/view1.png", 0)
        image(root / f"Aloe/{illumination}/Exp0/view5.png", 1)
    values = np.random.default_rng(0).integers(0, 100, (H, W), dtype=np.uint8)
    PIL.Image.fromarray(values).save(root / "Aloe/disp1.png")
    Middlebury = load_builder("middlebury", "Middlebury")
    _, ds = build(Middlebury, tmp_path, root, "2006")
    rows = ds["train"].with_format("numpy")
    assert list(rows["id"]) == ["Aloe/Illum1/Exp0", "Aloe/Illum2/Exp0"]
    expected = values.astype(np.float32)
    expected[values == 0] = np.inf
    check_disparity(rows[0], expected)


@pytest.mark.parametrize("layout", ["official", "upstream"])
def test_eth3d(tmp_path, layout):
    names = ({"train": "two_view_training", "gt": "two_view_training_gt", "test": "two_view_test"} if layout == "official"
             else {"train": "train", "gt": "train_gt", "test": "test"})
    root = tmp_path / "eth3d"
    image(root / names["train"] / "delivery_area_1l/im0.png", 0)
    image(root / names["train"] / "delivery_area_1l/im1.png", 1)
    truth = disparity(2)
    (root / names["gt"] / "delivery_area_1l").mkdir(parents=True)
    formats.write_pfm(root / names["gt"] / "delivery_area_1l/disp0GT.pfm", truth)
    image(root / names["test"] / "lakeside_1l/im0.png", 3)
    image(root / names["test"] / "lakeside_1l/im1.png", 4)
    ETH3D = load_builder("eth3d", "ETH3D")
    _, ds = build(ETH3D, tmp_path, root, "two_view")
    assert ds["train"][0]["id"] == "train/delivery_area_1l" and ds["test"][0]["scene"] == "lakeside_1l"
    check_disparity(ds["train"].with_format("numpy")[0], truth)
    assert ds["test"][0]["disparity"] is None


def test_sceneflow(tmp_path):
    root = tmp_path / "sceneflow"
    truth = {}
    for relative, key in (("FlyingThings3D/{}/TRAIN/A/0000/{}/0006", "ft_train"),
                          ("FlyingThings3D/{}/TEST/A/0000/{}/0006", "ft_test"),
                          ("Monkaa/{}/a_rain_of_stones_x2/{}/0001", "monkaa"),
                          ("Driving/{}/15mm_focallength/scene_forwards/fast/{}/0001", "driving")):
        image(root / (relative.format("frames_cleanpass", "left") + ".png"), 0)
        image(root / (relative.format("frames_cleanpass", "right") + ".png"), 1)
        image(root / (relative.format("frames_finalpass", "left") + ".png"), 2)
        image(root / (relative.format("frames_finalpass", "right") + ".png"), 3)
        truth[key] = disparity(len(truth))
        target = root / (relative.format("disparity", "left") + ".pfm")
        target.parent.mkdir(parents=True, exist_ok=True)
        formats.write_pfm(target, truth[key])
    SceneFlow = load_builder("sceneflow", "SceneFlow")
    _, ds = build(SceneFlow, tmp_path, root, "finalpass")
    assert ds["train"].num_rows == 3 and ds["test"].num_rows == 1
    assert list(ds["train"]["subset"]) == ["Driving", "Monkaa", "FlyingThings3D"]
    test = ds["test"].with_format("numpy")[0]
    assert test["id"] == "FlyingThings3D/TEST/A/0000/left/0006"
    check_disparity(test, truth["ft_test"])
    np.testing.assert_array_equal(test["image_2"], np.asarray(PIL.Image.open(
        root / "FlyingThings3D/frames_finalpass/TEST/A/0000/right/0006.png")))


def test_sintel(tmp_path):
    root = tmp_path / "MPI-Sintel"
    for index in (1, 2, 3):
        image(root / f"training/final/alley_1/frame_{index:04d}.png", index)
        image(root / f"test/final/ambush_1/frame_{index:04d}.png", 10 + index)
    (root / "training/flow/alley_1").mkdir(parents=True)
    truth = {}
    for index in (1, 2):
        truth[index] = flow(index)
        formats.write_flo(root / f"training/flow/alley_1/frame_{index:04d}.flo", truth[index])
    truth[2][0, 1] = 1e10  # the .flo "unknown" mark
    formats.write_flo(root / "training/flow/alley_1/frame_0002.flo", truth[2])
    Sintel = load_builder("sintel", "Sintel")
    _, ds = build(Sintel, tmp_path, root, "final")
    assert ds["train"].num_rows == 2 and ds["test"].num_rows == 2
    rows = ds["train"].with_format("numpy")
    assert list(rows["frame"]) == [1, 2] and rows[0]["id"] == "training/final/alley_1/frame_0001"
    check_flow(rows[0], truth[1])
    valid = np.ones((H, W), bool)
    valid[0, 1] = False
    check_flow(rows[1], truth[2], valid)
    assert ds["test"][1]["flow"] is None


def test_flyingchairs_with_split_file(tmp_path):
    root = tmp_path / "FlyingChairs_release"
    truth = {}
    for index in (1, 2, 3):
        image(root / f"data/{index:05d}_img1.ppm", index, fmt="PPM")
        image(root / f"data/{index:05d}_img2.ppm", 10 + index, fmt="PPM")
        truth[index] = flow(index)
        formats.write_flo(root / f"data/{index:05d}_flow.flo", truth[index])
    (root / "FlyingChairs_train_val.txt").write_text("1\n2\n1\n")
    FlyingChairs = load_builder("flyingchairs", "FlyingChairs")
    _, ds = build(FlyingChairs, tmp_path, root, "default")
    assert list(ds["train"]["id"]) == ["00001", "00003"] and list(ds["validation"]["id"]) == ["00002"]
    check_flow(ds["validation"].with_format("numpy")[0], truth[2])
    (root / "FlyingChairs_train_val.txt").write_text("1\n3\n")
    with pytest.raises(ValueError, match="FlyingChairs_train_val.txt"):
        build(FlyingChairs, tmp_path / "again", root, "default")


def test_spring_flow_and_stereo(tmp_path):
    pytest.importorskip("h5py")
    root = tmp_path / "spring"
    seq = root / "train/0001"
    truth = {}
    for index in (1, 2):
        for camera in ("left", "right"):
            image(seq / f"frame_{camera}/frame_{camera}_{index:04d}.png", index)
            image(root / f"test/0003/frame_{camera}/frame_{camera}_{index:04d}.png", 5 + index)
    for name, index in (("flow_FW_left", 1), ("flow_BW_left", 2)):
        (seq / name).mkdir(parents=True)
        f = flow(index, size=(2 * H, 2 * W))
        f[3, 4] = np.nan
        truth[name] = f
        formats.write_flo5(seq / name / f"{name}_{index:04d}.flo5", f)
    (seq / "disp1_left").mkdir(parents=True)
    d = disparity(7, size=(2 * H, 2 * W))
    d[0, 0] = np.nan
    formats.write_dsp5(seq / "disp1_left/disp1_left_0001.dsp5", d)
    Spring = load_builder("spring", "Spring")
    _, ds = build(Spring, tmp_path, root, "flow")
    rows = ds["train"].with_format("numpy")
    assert list(rows["id"]) == ["train/0001/FW_left/0001", "train/0001/BW_left/0002"]
    check_flow(rows[0], truth["flow_FW_left"])  # ground truth at twice the image size, NaN -> inf
    assert rows[1]["image_2"].shape == (H, W, 3)
    test_ids = list(ds["test"]["id"])
    assert test_ids == ["test/0003/FW_left/0001", "test/0003/BW_left/0002", "test/0003/FW_right/0001",
                        "test/0003/BW_right/0002"]
    _, ds = build(Spring, tmp_path, root, "stereo")
    assert ds["train"].num_rows == 2 and ds["test"].num_rows == 2
    check_disparity(ds["train"].with_format("numpy")[0], d)
    assert ds["train"][1]["disparity"] is None  # frame 2 has no .dsp5 in this tree


def test_builder_bad_data_dir(tmp_path):
    KITTI = load_builder("kitti", "KITTI")
    with pytest.raises(ValueError, match="pass data_dir"):
        KITTI(config_name="2015", cache_dir=str(tmp_path / "c1")).download_and_prepare()
    with pytest.raises(ValueError, match="is not a folder"):
        KITTI(config_name="2015", data_dir=str(tmp_path / "missing"), cache_dir=str(tmp_path / "c2")).download_and_prepare()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"found no image pairs .*training/\{image_2"):
        KITTI(config_name="2015", data_dir=str(tmp_path / "empty"), cache_dir=str(tmp_path / "c3")).download_and_prepare()


def test_to_model_inputs_matches_procedural_layout(tmp_path):
    from nlv_hf.data.builders import to_model_inputs

    root = tmp_path / "MPI-Sintel"
    first = image(root / "training/clean/cave_2/frame_0001.png", 0)
    image(root / "training/clean/cave_2/frame_0002.png", 1)
    truth = flow(0)
    truth[2, 2] = np.nan
    (root / "training/flow/cave_2").mkdir(parents=True)
    formats.write_flo(root / "training/flow/cave_2/frame_0001.flo", truth)
    Sintel = load_builder("sintel", "Sintel")
    _, ds = build(Sintel, tmp_path, root, "clean")
    batch = ds["train"].with_transform(to_model_inputs)[:1]
    pixel_values, labels = batch["pixel_values"][0], batch["labels"][0]
    assert pixel_values.shape == (3, H, W) and pixel_values.dtype == torch.float32
    torch.testing.assert_close(pixel_values, torch.from_numpy(first).permute(2, 0, 1).float() / 255)
    assert labels.shape == (2, H, W) and torch.isposinf(labels[:, 2, 2]).all()
    expected = torch.from_numpy(truth).permute(2, 0, 1)
    valid = torch.isfinite(expected).all(0)
    torch.testing.assert_close(labels[:, valid], expected[:, valid])
    single = to_model_inputs(ds["train"].with_format("numpy")[0])
    assert torch.equal(single["labels"][:, valid], labels[:, valid]) and single["id"] == batch["id"][0]
    with pytest.raises(ValueError, match="expected a stereo/flow example"):
        to_model_inputs({"id": "x", "image_1": None})


@pytest.mark.parametrize("name", ["middlebury", "eth3d", "kitti", "sceneflow", "sintel", "flyingchairs", "spring"])
def test_dataset_card(name):
    card = (REPO / "dataset_scripts" / name / "README.md").read_text()
    header = card.split("---")[1]
    assert card.startswith("---\n") and "license:" in header and "pretty_name:" in header
    assert f"dataset_scripts.{name}.{name} import" in card and "## Fields" in card


def test_flyingthings_flow(tmp_path):
    root = tmp_path / "sceneflow"
    seq = "FlyingThings3D/{}/TRAIN/B/0003/"
    for index in (6, 7, 8):
        image(root / (seq.format("frames_cleanpass") + f"left/{index:04d}.png"), index)
    truth = {}
    for direction, index in (("Future", 6), ("Future", 8), ("Past", 7)):  # Future_0008 has no frame 9: skipped
        folder = root / (seq.format("optical_flow") + f"into_{direction.lower()}/left")
        folder.mkdir(parents=True, exist_ok=True)
        data = np.zeros((H, W, 3), np.float32)
        data[..., :2] = flow(index)
        truth[(direction, index)] = data[..., :2]
        formats.write_pfm(folder / f"OpticalFlowInto{direction}_{index:04d}_L.pfm", data)
    SceneFlow = load_builder("sceneflow", "SceneFlow")
    _, ds = build(SceneFlow, tmp_path, root, "flow_cleanpass")
    assert list(ds) == ["train"]
    rows = ds["train"].with_format("numpy")
    assert list(rows["id"]) == ["FlyingThings3D/TRAIN/B/0003/FW_left/0006", "FlyingThings3D/TRAIN/B/0003/BW_left/0007"]
    assert list(rows["direction"]) == ["FW", "BW"]
    check_flow(rows[0], truth[("Future", 6)])
    check_flow(rows[1], truth[("Past", 7)])
    np.testing.assert_array_equal(rows[1]["image_2"], np.asarray(PIL.Image.open(
        root / (seq.format("frames_cleanpass") + "left/0006.png"))))
