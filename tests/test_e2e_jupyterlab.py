"""End to end: JupyterLab on loopback, a notebook opened in headless Chromium (Playwright driving Debian's chromium),
all cells run, and the study dashboard renders with the study's numbers. Saves a screenshot to artifacts/."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": [
            "import json, os\n", "os.environ['METAHPO_THREADS'] = '1'\n",
            "from metahpo_kit.space import SEED_SPACE\n", "from metahpo_kit.tasks import load_task\n",
            "from metahpo_kit.train import Budget\n", "from metahpo_kit.study import tune\n", "from metahpo_kit.tuners import RandomTuner\n",
            "from metahpo_kit.widgets import Dashboard\n",
            "dash = Dashboard(n_trials=3, title='e2e study')\n", "dash"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": [
            "res = tune(load_task('wine'), RandomTuner(SEED_SPACE, random_state=0), n_trials=3, budget=Budget(epochs=1),\n",
            "           callbacks=[dash])\n",
            "json.dump({'best': res.best['val_accuracy'], 'n': len(res.trials)}, open('result.json', 'w'))"]},
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                 "language_info": {"name": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboard_renders_in_jupyterlab(tmp_path, need):
    need("Debian's chromium", CHROMIUM)
    playwright = pytest.importorskip("playwright.sync_api") if not os.environ.get("CI") else __import__(
        "playwright.sync_api", fromlist=["sync_playwright"])
    (tmp_path / "dash.ipynb").write_text(json.dumps(NOTEBOOK))
    port, token = _free_port(), "metahpo-e2e"
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "METAHPO_THREADS": "1"})
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("JupyterLab did not start: " + server.stderr.read().decode()[-2000:]
                                         if server.poll() is not None else "JupyterLab did not start in 90 s")
                time.sleep(0.5)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/dash.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            try:   # a fresh JupyterLab asks which kernel to start
                page.wait_for_selector(".jp-Dialog button.jp-mod-accept", timeout=20_000)
                page.locator(".jp-Dialog button.jp-mod-accept").first.click()
            except Exception:
                pass
            page.wait_for_selector(".jp-StatusBar-TextItem:has-text('Idle')", timeout=90_000)   # the kernel is up
            (ROOT / "artifacts").mkdir(exist_ok=True)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            try:
                page.wait_for_selector(".metahpo-best:has-text('best validation accuracy')", timeout=180_000)
            except Exception:
                page.screenshot(path=str(ROOT / "artifacts" / "e2e_dashboard_failed.png"), full_page=True)
                raise
            deadline = time.monotonic() + 60
            while not (tmp_path / "result.json").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            result = json.loads((tmp_path / "result.json").read_text())
            page.wait_for_selector(f".metahpo-best:has-text('{result['best']:.4f}')", timeout=30_000)
            text = page.locator(".metahpo-best").first.inner_text()
            progress = page.locator(".widget-inline-hbox:has(.widget-label:has-text('3/3'))")
            assert f"{result['best']:.4f}" in text and result["n"] == 3
            assert progress.count() >= 1, "the progress bar does not show 3/3"
            assert page.locator("svg.metahpo-anytime circle").count() == 3
            assert page.locator("table.metahpo-trials tbody tr").count() == 3
            page.screenshot(path=str(ROOT / "artifacts" / "e2e_dashboard.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
