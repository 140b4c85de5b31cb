"""Write the results page (docs/results.md) and the headline figure from the results files in bench/results/.

    python bench/results_page.py                  # docs/results.md, docs/images/headline.png, README's headline table
    python bench/results_page.py --out /tmp/page  # the same into /tmp/page (results.md, headline.png,
                                                  # headline_table.md); README.md and nbs/index.ipynb untouched

Every figure on the page is computed here from a results file; the page names the file and the command that made
it. tests/test_results_page.py regenerates the page and checks the committed one (and README's table) is current.
"""
import argparse
import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from metahpo_kit.benchmark import at_k, markdown_table, paired_table, seed_spread, summarize
from metahpo_kit.tasks import base_dataset

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "bench" / "results"
KS = (1, 3, 5, 10, 20)
HEADLINE_RUN = RES / "quick"                      # `metahpo benchmark --quick`, rows and the run's README
HEADLINE_METHODS = ["manual", "random", "tpe", "portfolio", "similarity", "maml", "dkgp"]
FIGURE_METHODS = ["manual", "random", "tpe", "portfolio", "dkgp"]
TABLE_START = "<!-- headline table: written by `python bench/results_page.py` from bench/results/quick/ -->"
TABLE_END = "<!-- end of headline table -->"
FIGURE_ATTACHMENT = "headline.png"               # the figure in nbs/index.ipynb (README shows docs/images/headline.png)

NAMES = {   # what each method of the benchmarks is, in a few words
    "manual": "manual defaults (the seed plan's defaults, then random)",
    "random": "random search",
    "tpe": "Optuna's TPE",
    "portfolio": "the zero-shot portfolio (greedy, over the training tasks)",
    "similarity": "the similarity rule (training tasks weighted by agreement with the trials)",
    "maml": "the MAML tuner",
    "dkgp": "the deep-kernel GP, the kit's default learned tuner",
    "dkgp_cover0": "the deep-kernel GP from the second pick (no portfolio cover)",
    "dkgp_cover1": "the deep-kernel GP with one cover pick",
    "dkgp_alone": "the meta-learned GP alone (its own prior mean first, no meta-features, no cover)",
    "pooled_alone": "the same model meta-trained on batches that mix tasks (multi-task regression)",
    "dkgp_mf": "a prior mean that also reads the task's meta-features (the switch `condition_mean`)",
    "dkgp_mf_alone": "the same, alone",
    "dkgp_mix": "a prior mean from the training tasks' scores, weighted by meta-features and trials (tried, not kept)",
    "dkgp_mix_ev": "`dkgp_mix` chosen per task by the trials' marginal likelihood (tried, not kept)",
    "dkgp_acq_ucb": "UCB instead of expected improvement",
    "dkgp_acq_mean": "the posterior mean as the acquisition",
    "dkgp_adapt": "the kernel's lengthscale and noise re-chosen on the task's trials",
    "dkgp_adapt_ucb": "the adapted kernel with UCB",
    "dkgp_adapt_mean": "the adapted kernel with the posterior mean",
    "dkgp_curves": "meta-trained on every epoch's score, the epoch as an input",
    "dkgp_curves_alone": "the same, alone",
    "dkgp_random": "2,000 random candidates instead of the training tasks' shared pool",
    "dkgp_adapt_random": "the adapted kernel over random candidates",
    "dkgp_adapt_ucb_random": "the adapted kernel with UCB over random candidates",
}
MAIN = ["dkgp", "dkgp_cover0", "dkgp_alone", "dkgp_mf", "dkgp_mix", "pooled_alone", "portfolio", "similarity", "random"]
ATTEMPTS = ["dkgp", "dkgp_acq_ucb", "dkgp_acq_mean", "dkgp_adapt", "dkgp_adapt_ucb", "dkgp_adapt_mean", "dkgp_curves",
            "dkgp_curves_alone", "dkgp_random", "dkgp_adapt_random", "dkgp_adapt_ucb_random"]
SURROGATE_RUNS = {"grid122_e2": "the grid meta-dataset, 2-epoch budget",
                  "grid122_e10": "the grid meta-dataset, 10-epoch budget",
                  "mixed_e2": "the mixed/continuous space, 2-epoch budget"}


def read_rows(path: Path) -> pd.DataFrame:
    "A results file's rows (CSV, gzipped or not)."
    return pd.read_csv(path)


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def command_of(md: Path) -> str:
    "The command a results file names (its first `Command:` line, or its first line in backticks)."
    text = md.read_text()
    m = re.search(r"Command[^:]*:\s*`([^`]+)`", text) or re.search(r"^`([^`]+)`", text, re.M)
    return m.group(1) if m else "(see the file)"


def snapshots(df: pd.DataFrame, ks=KS) -> pd.DataFrame:
    "The row of each run after k trials, for each k, with a `k` column (what `paired` compares, computed once)."
    return pd.concat([at_k(df, k).assign(k=k) for k in ks], ignore_index=True).drop(columns="trial")


def md_table(frame: pd.DataFrame, index_name: str) -> list:
    "A DataFrame as markdown lines (index first)."
    cols = [str(c) for c in frame.columns]
    lines = [f"| {index_name} | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    for idx, row in frame.iterrows():
        lines.append(f"| {idx} | " + " | ".join("" if pd.isna(v) else (f"{v:.4f}" if isinstance(v, float) else str(v))
                                                  for v in row) + " |")
    return lines


def means(df: pd.DataFrame, methods, ks=KS) -> pd.DataFrame:
    "Mean normalised regret over tasks after k trials, methods by k."
    s = summarize(df[df["method"].isin(methods)], ks)
    t = s.pivot(index="method", columns="k", values="regret_mean")
    t.columns = [f"k={k}" for k in t.columns]
    return t.reindex([m for m in methods if m in t.index])


def describe(methods) -> list:
    return [f"- `{m}`: {NAMES[m]}" for m in methods if m in NAMES]


def headline(out_png: Path | None) -> tuple:
    "(page lines, README table) of the main job's run; draws the figure into `out_png`."
    rows = read_rows(HEADLINE_RUN / "benchmark_rows.csv.gz")
    rows = rows[rows["method"].isin(HEADLINE_METHODS)]
    s = summarize(rows, KS)
    s = pd.concat([s[s["method"] == m] for m in HEADLINE_METHODS])
    table = markdown_table(s, ks=(1, 5, 10, 20))
    n_tasks, n_data = rows["task"].nunique(), rows["task"].map(base_dataset).nunique()
    seeds = sorted(rows["seed"].unique())
    snap = snapshots(rows)
    pairs = pd.concat([paired_table(snap, b, ["dkgp"]).rename(index=lambda m: f"dkgp vs {b}")
                       for b in HEADLINE_METHODS if b != "dkgp"])
    if out_png is not None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from metahpo_kit.benchmark import plot_regret
        fig, ax = plt.subplots(figsize=(6.4, 4))
        plot_regret(rows[rows["method"].isin(FIGURE_METHODS)], ax=ax)
        ax.set_title(f"Held-out tasks ({n_tasks}), mean over tasks with a 95% band")
        ax.set_xlabel("trials")
        fig.savefig(out_png, dpi=110, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
    lines = ["## The main job: every tuner on held-out tasks", "",
             f"From `{rel(HEADLINE_RUN)}/` (`{command_of(HEADLINE_RUN / 'README.md')}`; the file names the machine). "
             f"{n_tasks} held-out tasks from {n_data} datasets of the shipped meta-dataset"
             f"{', one task per dataset' if n_tasks == n_data else ''}, seeds {', '.join(map(str, seeds))}; each tuner "
             "trains on every other dataset and the learned ones are meta-trained anew for every held-out dataset and "
             "seed. Normalised regret after k trials (0 = the task's "
             "best recorded config, 1 = its worst), mean over tasks [95% bootstrap interval]:", "",
             table, "", "![normalised regret against trials](images/headline.png)", "",
             "The learned default paired per dataset with each other tuner (wins/ties/losses, a tie within 0.01, "
             "two-sided Wilcoxon p):", "", *md_table(pairs, "pair"), ""]
    return lines, table


def surrogate_section() -> list:
    lines = ["## The deep-kernel GP against the transfer baselines, leave-one-dataset-out", "",
             "Every held-out task that can tell tuners apart, each with its whole dataset left out of training, "
             "20 trials, 3 seeds, every learned tuner meta-trained anew for each held-out task and seed. The methods:",
             "", *describe(sorted({*MAIN, *ATTEMPTS}, key=[*MAIN, *ATTEMPTS].index)), ""]
    for name, what in SURROGATE_RUNS.items():
        path = RES / f"surrogate_{name}.csv.gz"
        df = read_rows(path)
        snap = snapshots(df)
        present = [m for m in MAIN if m in set(df["method"])]
        t = means(df, present)
        for k in (3, 5):
            t[f"seed spread k={k}"] = seed_spread(df[df["method"].isin(present)], k)["spread"].reindex(t.index)
        lines += [f"### {what}", "",
                  f"From `{rel(path)}` (`{command_of(path.with_name(f'surrogate_{name}.md'))}`; "
                  f"`surrogate_{name}.md` beside it names the machine): {df['task'].nunique()} held-out tasks from "
                  f"{df['task'].map(base_dataset).nunique()} datasets. Mean normalised regret after k trials, and the "
                  "spread over meta-training seeds of the mean (the default's first three picks do not depend on the "
                  "seed):", "", *md_table(t, "method"), ""]
        pairs = pd.concat([paired_table(snap, b, [m for m in ("dkgp", "dkgp_cover0") if m in present])
                           .rename(index=lambda m: f"{m} vs {b}") for b in ("portfolio", "similarity")]
                          + [paired_table(snap, "pooled_alone", ["dkgp_alone"]).rename(index=lambda m: f"{m} vs pooled_alone")])
        lines += ["Paired per dataset (wins/ties/losses, a tie within 0.01, two-sided Wilcoxon p):", "",
                  *md_table(pairs, "pair"), ""]
        tried = [m for m in ATTEMPTS if m in set(df["method"])]
        if len(tried) > 1:
            t = means(df, tried, ks=(5, 10, 20))
            vs = paired_table(snap, "portfolio", tried, ks=(5, 10)).rename(columns=lambda c: f"vs portfolio {c}")
            lines += ["The GP phase's levers (acquisition, kernel adapted to the task, learning-curve inputs):", "",
                      *md_table(t.join(vs), "method"), ""]
    lines += ["How to read these. The first three picks are the meta-feature prior's and its portfolio's, so k = 1 "
              "to 3 measure the prior, not the GP; the portfolio cover is the portfolio's gain, not the GP's. "
              "Meta-training each task's marginal likelihood (`dkgp_alone`) rather than pooling the tasks "
              "(`pooled_alone`) is what makes the GP's adaptation work, and it shows where trials accumulate. The "
              "levers of the GP phase change little against the default; a change that helps on one benchmark "
              "and costs on another is not made the default.", ""]
    old = [(RES / f"surrogate_grid_e{e}.csv.gz", e) for e in (2, 10)]
    lines += ["### The same on the earlier, smaller meta-dataset", "",
              "The grid benchmark when the meta-dataset had 41 tasks (the deep-kernel GP with its settings of the "
              "time); it gave the same picture with a third of the datasets.", ""]
    for path, e in old:
        df = read_rows(path)
        present = [m for m in ("dkgp", "dkgp_alone", "pooled_alone", "portfolio", "similarity", "random")
                   if m in set(df["method"])]
        lines += [f"{e}-epoch budget, `{rel(path)}` (`{command_of(path.with_name(path.name[:-7] + '.md'))}`), "
                  f"{df['task'].nunique()} held-out tasks:", "", *md_table(means(df, present), "method"), ""]
    return lines


def live_section() -> list:
    path = RES / "live" / "live_rows.csv"
    df = read_rows(path)
    order = [m for m in HEADLINE_METHODS if m in set(df["method"])]
    s = summarize(df, ks=(1, 5, 10))
    s = pd.concat([s[s["method"] == m] for m in order])
    acc = {}
    for modality, g in df.groupby("modality"):
        for k in (1, 10):
            acc[f"{modality} k={k}"] = at_k(g, k).groupby("method")["best_test"].mean()
    acc = pd.DataFrame(acc).reindex(order)
    return ["## Live benchmark: real training on held-out tasks", "",
            f"From `{rel(path)}` (`{command_of(path.with_name('README.md'))}`; its README names the machine and the "
            f"tasks): {df['task'].nunique()} real tasks held out of meta-training "
            f"({', '.join(sorted(df['modality'].unique()))}), trained for real, 10 trials per run, each trial limited "
            "to 2 epochs or 10 seconds of training, 3 seeds. The deep-kernel GP ran without the portfolio cover. "
            "Normalised regret of the best config so far (0 = the best validation accuracy seen on the task in this "
            "run, 1 = the worst), mean over tasks [95% bootstrap interval]:", "",
            markdown_table(s, ks=(1, 5, 10)), "",
            "Test accuracy of the best config so far after 1 and 10 trials, mean over the runs of each modality "
            "(intervals in `bench/results/live/tables.md`):", "", *md_table(acc, "method"), "",
            "The learned tuners lead at the first trial through their meta-feature prior, most on the image tasks; "
            "from a few trials on the transfer methods are level.", ""]


def kformat_table(path: Path) -> list:
    "Mean normalised regret [95% bootstrap interval over tasks] of a results file with one row per (method, task, "
    "seed, k)."
    df = read_rows(path)
    ks = [k for k in KS if k in set(df["k"])]
    lines = ["| method | " + " | ".join(f"k={k}" for k in ks) + " |", "| --- |" + " ---: |" * len(ks)]
    for m, g in df.groupby("method", sort=False):
        cells = []
        for k in ks:
            per_task = g[g["k"] == k].groupby("task")["regret"].mean().to_numpy()
            rng = np.random.default_rng(0)
            boot = per_task[rng.integers(0, len(per_task), (2000, len(per_task)))].mean(1)
            cells.append(f"{per_task.mean():.3f} [{np.percentile(boot, 2.5):.3f}, {np.percentile(boot, 97.5):.3f}]")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def maml_section() -> list:
    lines = ["## The MAML tuner on the first 30 tasks", "",
             "Leave-one-task-out on the first 30 tasks of the meta-dataset, 3 seeds; the MAML tuner's first pick "
             "comes from the meta-feature prior, the next two from the prior-weighted portfolio, then from its "
             "network adapted on the trials. `metahpo benchmark --methods maml portfolio similarity` runs the same "
             "comparison on today's meta-dataset.", ""]
    for name, what in (("maml_e2", "2-epoch budget"), ("maml_e10", "10-epoch budget")):
        path = RES / f"{name}.csv"
        n = read_rows(path)["task"].nunique()
        lines += [f"{what}, `{rel(path)}`, {n} tasks:", "", *kformat_table(path), ""]
    lines += ["Its gains over the portfolio come from the meta-feature prior and the cover, not from the network's "
              "adaptation (the ablations: `bench/results/maml_e2_ablations.md`); the deep-kernel GP replaced the "
              "network as the default surrogate.", ""]
    return lines


def compute_section() -> list:
    """Regret against compute (issue #30's axis): the freeze-thaw tuner and its baselines, and what screening can tell,
    read from their report files (each names its command and machine)."""
    lines = ["## Regret against compute", "",
             "Cost counted in epochs of training, not in trials: a config stopped early is charged only what it "
             "trained. The freeze-thaw tuner (`metahpo_kit.freezethaw`) screens the deep-kernel GP's candidates for an "
             "epoch and trains to the full budget only the one its meta-learned curve model predicts to end best.", ""]
    for name in ("compute_grid_e10", "compute_screen"):
        path = RES / f"{name}.md"
        if path.exists():
            body = path.read_text().split("\n", 1)[1].strip()   # the file's own title dropped
            lines += [f"From `{rel(path)}`:", "", body.replace("\n# ", "\n### "), ""]
    return lines


def times_section() -> list:
    path = RES / "tutorial_times.md"
    text = path.read_text()
    rows = re.findall(r"^\| (\d\d_\w+)\.ipynb \| (\d+) \|", text, re.M)
    machine = re.search(r"^Machine: (.*)$", text, re.M)
    return ["## How long the tutorials take", "",
            f"With their default parameters, kernel start to last cell (`{rel(path)}`, "
            "`python bench/tutorial_times.py --from-notebooks` after `python bench/notebooks.py execute`). Machine: "
            f"{machine.group(1).rstrip('.') if machine else 'named in the file'}.", "",
            "| tutorial | seconds |", "| --- | ---: |", *[f"| {n} | {s} |" for n, s in rows], ""]


FIXED = """## Other measurements

- **Building the meta-dataset.** What each stage of the staged build costs in CPU time, measured and extrapolated
  to the whole plan: `bench/results/build_cost.md` (`python bench/build_plan.py cost`); where the build stands:
  `bench/results/build_status.md`; the shipped tasks one by one: `bench/results/metadataset_report.md`
  (`python bench/metadataset_report.py`). Loading and preprocessing every planned task from scratch is a small share
  of the build; the text tasks under the frozen MiniLM encoder, which embed their texts first, take most of it.
  Loading the shipped meta-dataset takes seconds, most of it importing the kit.
- **On Ray.** A local Ray cluster of two single-threaded workers built the same evaluations at about twice the
  throughput of one process on two cores, with identical rows and learning curves.
- **The trainer.** The kit's training loop gives the same results as an idiomatic PyTorch loop (`DataLoader`,
  `zero_grad`, `backward`, `step`) for the same config and seed, and is a little faster on small tabular models.
- **Fit and ask time of the deep-kernel GP:** `bench/results/surrogate_timing.md`
  (`python bench/surrogate_bench.py timing`). **The study machinery's overhead per trial:**
  `bench/results/tune_overhead.md` (`python bench/tune_overhead.py`).
- **Threads on a shared CPU.** `bench/results/spin_probe.md` (`python bench/spin_probe.py`) and
  `bench/results/thread_bench.md` (`python bench/thread_bench.py`): the kit's thread policy (one torch thread for
  the surrogates, passive waits) keeps a benchmark's time level beside a competing job.
- **Noise.** Two training seeds of one config disagree by several points of regret on a typical task, more than
  most differences between transfer methods after a few trials. So this page pairs methods per dataset (the
  variants of one dataset averaged first) and reports wins, ties and losses with a Wilcoxon test, not means alone.
- **The prior's mix.** Weighting the training tasks by meta-feature similarity helped the first pick most at a
  2-epoch budget and little at 10 epochs (on the first 30 tasks); the deep-kernel GP chooses the mix and the kernel bandwidth
  leave-one-dataset-out on its training tasks instead of fixing them.
- **The test suite.** Fresh-clone runs of `bash .ci/run`: `bench/results/suite_runs.md` (`bash bench/suite_runs.sh`).
  The tests run under a memory cap (`tests/conftest.py`), so a test that allocates without bound fails instead of
  exhausting the machine.
"""


def page(out_png: Path | None) -> tuple:
    head, table = headline(out_png)
    lines = ["# Results", "",
             "<!-- generated by `python bench/results_page.py` from bench/results/: do not edit by hand -->", "",
             "Every table on this page is computed by `python bench/results_page.py` from the results files in "
             "`bench/results/`; each section names its file and the command that made it, and each file names its "
             "machine. Normalised regret: 0 = the task's best known config, 1 = its worst; lower is better.", "",
             *head, *surrogate_section(), *live_section(), *maml_section(), *compute_section(),
             *times_section(), FIXED]
    return "\n".join(lines).rstrip() + "\n", table


def replace_block(text: str, table: str) -> str:
    "`text` with the headline table between the markers replaced by `table`."
    pattern = re.compile(re.escape(TABLE_START) + r".*?" + re.escape(TABLE_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"no headline-table markers ({TABLE_START} ... {TABLE_END})")
    return pattern.sub(lambda m: f"{TABLE_START}\n{table}\n{TABLE_END}", text)


def update_front_page(table: str, png: Path | None):
    """Write the headline table into README.md and its mirror, nbs/index.ipynb, and the figure into the index's
    attachment (a notebook's page embeds an attachment; it cannot embed a file outside the notebook's folder)."""
    readme = ROOT / "README.md"
    readme.write_text(replace_block(readme.read_text(), table))
    index = ROOT / "nbs" / "index.ipynb"
    nb = json.loads(index.read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and TABLE_START in src:
            cell["source"] = replace_block(src, table).splitlines(keepends=True)
        if cell["cell_type"] == "markdown" and f"(attachment:{FIGURE_ATTACHMENT})" in src and png is not None:
            cell["attachments"] = {FIGURE_ATTACHMENT: {"image/png": base64.b64encode(png.read_bytes()).decode()}}
    index.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None,
                    help="write results.md, headline.png and headline_table.md into this folder instead of docs/ "
                         "(README.md and nbs/index.ipynb are then left alone)")
    ap.add_argument("--no-figure", action="store_true", help="skip the headline figure")
    args = ap.parse_args(argv)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        md, png = out / "results.md", out / "headline.png"
    else:
        md, png = ROOT / "docs" / "results.md", ROOT / "docs" / "images" / "headline.png"
        png.parent.mkdir(parents=True, exist_ok=True)
    text, table = page(None if args.no_figure else png)
    md.write_text(text)
    if args.out:
        (Path(args.out) / "headline_table.md").write_text(table + "\n")
    else:
        update_front_page(table, None if args.no_figure else png)
    print(f"wrote {md}" + ("" if args.no_figure else f" and {png}"))


if __name__ == "__main__":
    main()
