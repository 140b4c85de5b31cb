#!/usr/bin/env bash
# Rebuild (or resume) the meta-dataset that ships in metahpo_kit/data/metadataset.parquet.
# Every evaluation: one config of the seed grid (486), trained for 10 epochs (the curve keeps every epoch), seeds 0 and 1.
# Resumable: run it again after a kill and it continues where it stopped. Needs the data mirror ($METAHPO_DATA_DIR).
#   bash bench/build_metadataset.sh
set -u
cd "$(dirname "$0")/.."
export METAHPO_THREADS=${METAHPO_THREADS:-1} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
TASKS=(
  # tabular (and their variants: smaller training sets, another split)
  wine breast_cancer titanic diabetes banknote vote sonar ionosphere glass credit_g breast_cancer_ljubljana soybean
  digits hypothyroid "mammography@max_train=3000" "adult@max_train=3000" "digits@max_train=500" "adult@max_train=1000"
  # images and texts under model families that train as packs: an MLP on pixels, a frozen MiniLM encoder + MLP head
  "mnist_5k@arch=mlp,max_train=2000" "sentiment_sentences@arch=transformer" "mnist@arch=mlp,max_train=2000,max_test=2000"
  "ag_news@arch=transformer,max_train=3000" "cifar10@arch=mlp,max_train=3000,max_test=2000"
  "imdb@arch=transformer,max_train=2000,max_test=1000" "mnist_5k@arch=mlp,max_train=500"
  "ag_news@arch=transformer,max_train=800" "hypothyroid@max_train=800" "cifar10@arch=mlp,max_train=1000,max_test=1000"
  "credit_g@seed=1" "mammography@max_train=1000"
)
# on a fresh checkout, start from what already ships (a resumed build never repeats a finished evaluation)
if [ ! -d build/metadata ] && [ -f metahpo_kit/data/metadataset.parquet ]; then
  mkdir -p build/metadata && cp metahpo_kit/data/metadataset.parquet build/metadata/part-00000000000000000000-shipped.parquet
fi
for t in "${TASKS[@]}"; do
  echo "=== $t $(date +%T)"
  metahpo build-metadata "$t" --configs grid --epochs 10 --seeds 0 1 --out build/metadata \
    --ship metahpo_kit/data/metadataset.parquet
done
