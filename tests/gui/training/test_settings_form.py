"""The settings form: what it shows, what it writes, and speed-ups only where the device has them."""

from __future__ import annotations

from nnstudio.gui.training.settings_form import SettingsForm
from nnstudio.training.device_probe import UNPROBED, DeviceInfo

GPU = DeviceInfo(
    choices=(
        ("auto", "Automatic: CUDA 0: NVIDIA H100"),
        ("cuda:0", "CUDA 0: NVIDIA H100"),
        ("cpu", "CPU (16 threads)"),
    ),
    cuda=True,
    compiler=True,
    auto="cuda",
)


def _shown(form: SettingsForm, widget) -> bool:
    return form.form.isRowVisible(widget)


def test_speed_ups_appear_only_where_the_device_supports_them(qtbot):
    form = SettingsForm()
    qtbot.addWidget(form)
    form.set_settings({"dataset": "digits"})
    assert not _shown(form, form.precision) and not _shown(
        form, form.fast
    )  # a CPU machine, no compiler known
    form.set_devices(GPU)
    assert [form.device.itemText(i) for i in range(form.device.count())][1] == "CUDA 0: NVIDIA H100"
    assert _shown(form, form.precision) and _shown(form, form.fast) and _shown(form, form.compile)
    form.device.setCurrentIndex(form.device.findData("cpu"))
    assert not _shown(form, form.precision) and not _shown(form, form.fast)
    assert _shown(form, form.compile)  # a C++ compiler is there: torch.compile works on the CPU


def test_a_device_from_another_machine_is_kept_and_marked(qtbot):
    form = SettingsForm()
    qtbot.addWidget(form)
    form.set_devices(UNPROBED)
    form.set_settings({"device": "cuda:1"})
    assert form.device.currentText() == "cuda:1 (not found here)"
    assert form.values()["device"] == "cuda:1"  # not silently rewritten


def test_edits_emit_the_whole_new_settings_and_keep_what_the_form_does_not_show(qtbot):
    form = SettingsForm()
    qtbot.addWidget(form)
    form.set_settings({"dataset": "circles", "lr": 0.05, "seed": 7, "val_split": 0.3})
    with qtbot.waitSignal(form.changed) as changed:
        form.optimizer.setCurrentIndex(form.optimizer.findData("sgd"))
    settings, text = changed.args
    assert text == "Change optimizer"
    assert settings["optimizer"] == "sgd" and settings["seed"] == 7 and settings["val_split"] == 0.3
    assert settings["dataset"] == "circles" and settings["lr"] == 0.05
    with qtbot.assertNotEmitted(form.changed):
        form.set_settings(settings)  # showing settings is not editing them
    assert form.lr.text() == "0.05"
