"""The freedesktop files: valid by the reference tools, and consistent with each other
and with the app (one id, one MIME type, the current version)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import nnstudio
from nnstudio.core.graph import GraphModel
from nnstudio.core.project import dumps
from nnstudio.resources import APP_ID, MIME_TYPE, desktop_dir, example_files

ROOT = Path(__file__).resolve().parents[2]

DESKTOP = desktop_dir() / f"{APP_ID}.desktop"
METAINFO = desktop_dir() / f"{APP_ID}.metainfo.xml"
MIME_XML = desktop_dir() / f"{APP_ID}.mime.xml"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install {TOOLS[name]})")
    return path


TOOLS = {
    "desktop-file-validate": "desktop-file-utils",
    "appstreamcli": "appstream",
    "update-mime-database": "shared-mime-info",
}


def test_desktop_entry_passes_desktop_file_validate():
    result = subprocess.run([_tool("desktop-file-validate"), str(DESKTOP)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout.lower()


def test_metainfo_passes_appstream_validation():
    result = subprocess.run(
        [_tool("appstreamcli"), "validate", "--no-net", "--pedantic", str(METAINFO)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Errors and warnings fail; pedantic notes about tags newer than the tool do not.
    assert not [line for line in result.stdout.splitlines() if line.startswith(("E:", "W:"))], result.stdout


def test_desktop_entry_opens_projects_with_the_app_icon():
    entry = desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "nnstudio"
    assert entry["Exec"].split()[-1] in ("%f", "%F")  # the file manager passes the project
    assert entry["Icon"] == APP_ID
    assert MIME_TYPE in entry["MimeType"].split(";")


def test_metainfo_names_the_desktop_entry_the_mime_type_and_this_version():
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == DESKTOP.name
    assert root.find("provides/mediatype").text == MIME_TYPE
    assert root.find("provides/binary").text == "nnstudio"
    # A release without notes is easy to forget; the newest one must be this version.
    assert root.find("releases/release").get("version") == nnstudio.__version__


def test_mime_type_claims_the_suffix_and_the_apps_file_header():
    mime = ET.parse(MIME_XML).getroot().find(f"{MIME_NS}mime-type")
    assert mime.get("type") == MIME_TYPE
    assert mime.find(f"{MIME_NS}glob").get("pattern") == "*.nnstudio"
    match = mime.find(f"{MIME_NS}magic/{MIME_NS}match")
    start, end = (int(n) for n in match.get("offset").split(":"))
    # The magic must hold for every file nnstudio writes, not only the bundled ones.
    headers = [p.read_bytes() for p in example_files()] + [dumps(GraphModel()).encode("utf-8")]
    for header in headers:
        assert match.get("value").encode() in header[start : end + len(match.get("value"))]


def test_shared_mime_info_compiles_the_type(tmp_path: Path):
    packages = tmp_path / "mime" / "packages"
    packages.mkdir(parents=True)
    shutil.copy(MIME_XML, packages / f"{APP_ID}.xml")
    subprocess.run([_tool("update-mime-database"), str(tmp_path / "mime")], check=True, capture_output=True)
    assert f"{MIME_TYPE}:*.nnstudio" in (tmp_path / "mime" / "globs2").read_text()
    assert (tmp_path / "mime" / "application" / "x-nnstudio.xml").exists()


def test_install_desktop_script_installs_and_removes_everything(tmp_path: Path):
    script = ROOT / "packaging" / "install_desktop.sh"
    bundle_exe = "/opt/nn studio/nnstudio"  # a path with a space must be quoted in Exec
    run = subprocess.run(
        ["bash", str(script), "--prefix", str(tmp_path), "--exec", bundle_exe],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    share = tmp_path / "share"
    installed = share / "applications" / DESKTOP.name
    assert f'Exec="{bundle_exe}" %f' in installed.read_text()
    assert (share / "metainfo" / METAINFO.name).exists()
    assert (share / "mime" / "packages" / f"{APP_ID}.xml").exists()
    assert (share / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg").exists()
    assert (share / "icons/hicolor/48x48/apps" / f"{APP_ID}.png").exists()
    assert (share / "icons/hicolor/scalable/mimetypes/application-x-nnstudio.svg").exists()

    run = subprocess.run(
        ["bash", str(script), "--prefix", str(tmp_path), "--uninstall"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    left = [p for p in share.rglob("*") if p.is_file() and ("nnstudio" in p.name)]
    assert left == []
