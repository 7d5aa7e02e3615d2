"""`python -m hotdog`: the whole product from a terminal, one verb per job."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from hotdog import runs, training
from hotdog.predict import IMAGENET
from hotdog.data import ALL_PHOTOS

DESCRIPTION = """Hotdog or Not: train, check and use a hotdog / nohotdog image classifier.

Typical session:
  python -m hotdog demo-data data/demo                      # synthetic photos, offline
  python -m hotdog check-data data/demo                     # counts, baselines, problems
  python -m hotdog train --data data/demo --model seed --epochs 3
  python -m hotdog evaluate runs/<run-id> --data data/demo     # its test split; or any hotdog/nohotdog folder
  python -m hotdog predict runs/<run-id> photo.jpg          # or: predict imagenet photo.jpg
  python -m hotdog explain runs/<run-id> photo.jpg --out heatmaps
  python -m hotdog export runs/<run-id> --format tflite --out exports/
"""


#: Longest side of a heatmap picture written by `explain`, in pixels.
EXPLAIN_SIZE = 1024
#: The problems `check-data` lists: title, key in the report, how one item reads.
DATA_PROBLEMS = (
    ("unreadable files", "unreadable", lambda item: f"{item['path']}: {item['reason']}"),
    ("photos in two splits (leakage)", "duplicates_across_splits", " = ".join),
    ("photos under 32 px", "small_images", lambda item: f"{item['path']} ({item['width']}x{item['height']})"),
)


def _json_line(data: object) -> None:
    print(json.dumps(data, default=str))


def cmd_demo_data(args: argparse.Namespace) -> int:
    from hotdog import demo_data

    root = demo_data.generate(args.dir, seed=args.seed)
    print(f"synthetic demo dataset ready in {root} (drawings, not photos: use a real dataset for real photos)")
    return 0


def cmd_check_data(args: argparse.Namespace) -> int:
    from hotdog.data import check_data

    report = check_data(args.dir)
    if args.json:
        _json_line(report)
        return 0
    print(f"dataset {report['root']}" + ("  (validation held out from train, 20%)"
                                          if report["validation_from_train"] else ""))
    for split, counts in report["splits"].items():
        baseline = report["majority_baseline"][split]
        print(f"  {split:<11} hotdog {counts['hotdog']:>6}  nohotdog {counts['nohotdog']:>6}  "
              f"always-the-bigger-class accuracy {baseline:.0%}")
    for title, key, describe in DATA_PROBLEMS:
        items = report[key]
        print(f"{title}: {len(items) or 'none'}")
        for item in items[:20]:
            print("   ", describe(item))
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from hotdog import download, paths

    url = args.url or download.D2L_HOTDOG_URL
    sha1 = args.sha1 or (None if args.url else download.D2L_HOTDOG_SHA1)
    into = args.into or paths.app_data_dir()
    shown = {"mb": -1}

    def progress(done: int, total: int | None) -> None:
        if done // 10_000_000 != shown["mb"]:
            shown["mb"] = done // 10_000_000
            print(f"  {done / 1e6:,.0f} MB" + (f" of {total / 1e6:,.0f} MB" if total else ""), file=sys.stderr)

    print(f"downloading {url} into {into}", file=sys.stderr)
    try:
        root = download.download_dataset(url, sha1, data_root=into, progress=progress)
    except download.DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"dataset ready in {root} (check it with: python -m hotdog check-data {root})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        run = runs.reclaim_run(runs.find_run(args.resume, args.runs_dir))
    elif args.run_dir:
        run = runs.Run(Path(args.run_dir))
    else:
        if not args.data:
            raise ValueError("--data DIR is required (or --resume RUN)")
        config = training.TrainConfig(
            data=args.data, model=args.model, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, image_size=args.image_size, class_weight=args.class_weight,
            augment=args.augment, early_stopping=args.early_stopping, seed=args.seed,
            mixed_precision=args.mixed_precision, fine_tune_epochs=args.fine_tune_epochs, name=args.name)
        run = training.new_run(config, args.runs_dir)
    return training.train_and_report(run, json_output=args.json)


def cmd_predict(args: argparse.Namespace) -> int:
    from hotdog.predict import Classifier

    classifier = Classifier.load(args.model)
    verdicts = classifier.predict(args.images, threshold=args.threshold)
    for verdict in verdicts:
        if args.json:
            _json_line(verdict.to_dict())
        elif verdict.error:
            print(f"{verdict.source}: cannot read: {verdict.error}")
        else:
            print(f"{verdict.source}: {verdict.label} (P(hotdog) = {verdict.p_hotdog:.3f})")
    return 0 if any(v.error is None for v in verdicts) else 1


def model_reference(reference: str, runs_dir: Path | None) -> str:
    """A run id or folder, a .keras file, or "imagenet", as a path `Classifier.load` takes."""
    if reference == IMAGENET or Path(reference).suffix == ".keras":
        return reference
    return str(runs.find_run(reference, runs_dir).path)


def cmd_explain(args: argparse.Namespace) -> int:
    from hotdog import explain, images
    from hotdog.predict import Classifier

    classifier = Classifier.load(model_reference(args.model, args.runs_dir))
    args.out.mkdir(parents=True, exist_ok=True)
    written: set[str] = set()
    for photo, explanation in zip(args.images, explain.explain(classifier, args.images, args.threshold)):
        verdict, record = explanation.verdict, explanation.verdict.to_dict()
        if not verdict.error:
            image = images.load_rgb(photo, draft_size=EXPLAIN_SIZE)
            image.thumbnail((EXPLAIN_SIZE, EXPLAIN_SIZE))
            record["heatmap"] = str(args.out / unique_name(f"{Path(photo).stem}-gradcam", ".png", written))
            explain.overlay(image, explanation.heatmap).save(record["heatmap"])
        if args.json:
            _json_line(record)
        elif verdict.error:
            print(f"{verdict.source}: cannot read: {verdict.error}")
        else:
            print(f"{verdict.source}: {verdict.label} (P(hotdog) = {verdict.p_hotdog:.3f}); "
                  f"heatmap {record['heatmap']}")
    return 0 if written else 1


def unique_name(stem: str, suffix: str, taken: set[str]) -> str:
    """`stem + suffix`, numbered when two photos share a name; the name is added to `taken`."""
    name, number = f"{stem}{suffix}", 1
    while name in taken:
        number += 1
        name = f"{stem}-{number}{suffix}"
    taken.add(name)
    return name


def cmd_export(args: argparse.Namespace) -> int:
    from hotdog import export
    from hotdog.predict import Classifier

    reference = model_reference(args.model, args.runs_dir)
    classifier = Classifier.load(reference)
    folder = Path(args.out).is_dir() or args.out.endswith(("/", os.sep))
    out = Path(args.out) / export.file_name(classifier.name, args.format) if folder else Path(args.out)
    dataset = (Path(args.data), 0) if args.data else None
    if dataset is None and classifier.run_config is not None:
        try:
            dataset = export.run_dataset(runs.Run(Path(reference)))
        except export.ExportError as error:
            print(f"note: {error}; give --data DIR to check the export", file=sys.stderr)
    out, check = export.export(classifier, args.format, out, dataset)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {export.FORMATS[args.format].description})")
    print(check.describe() if check else "not checked: no photos to check it on (give --data DIR)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from hotdog.evaluate import evaluate

    result = evaluate(model_reference(args.run, args.runs_dir), args.data, split=args.split,
                      threshold=args.threshold, runs_dir=args.runs_dir)
    if args.json:
        _json_line(result)
        return 0
    (tn, fp), (fn, tp) = result["confusion_matrix"]
    photos = "every photo" if result["split"] == ALL_PHOTOS else f"{result['split']} split"
    print(f"{result['data']}: {photos}, {result['n']} photos, threshold {result['threshold']}")
    for key in ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "majority_baseline"):
        value = result[key]
        print(f"  {key:<18} {value:.3f}" if value is not None else f"  {key:<18} n/a")
    print(f"  confusion matrix   true nohotdog: {tn} right, {fp} called hotdog")
    print(f"                     true hotdog:   {tp} right, {fn} called nohotdog")
    for entry in result["unreadable"]:
        print(f"  unreadable, skipped: {entry['path']}: {entry['reason']}")
    if "saved_to" in result:
        print(f"per-photo scores saved in {result['saved_to']} (the Evaluate page shows them)")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    listed = runs.list_runs(args.runs_dir)
    for run in listed:
        status, damage = run.status, run.damage
        row = {"id": run.id, "state": status.get("state", "unknown"), "model": run.settings.get("model", "?"),
               "epochs_completed": status.get("epochs_completed", 0),
               "best_val_accuracy": status.get("best_val_accuracy"), "path": str(run.path), "damage": damage}
        if args.json:
            _json_line(row)
            continue
        line = f"{row['id']:<45} {row['state']:<10} {row['model']:<9} epochs {row['epochs_completed']:>3}"
        accuracy = row["best_val_accuracy"]
        print(line + (f"  val acc {accuracy:.3f}" if accuracy is not None else "") + (f"  damaged: {damage}"
                                                                                      if damage else ""))
    if not listed and not args.json:
        print(f"no runs in {args.runs_dir or runs.default_runs_dir()}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    run = runs.find_run(args.run, args.runs_dir)
    if args.force:
        run.mark_failed("marked failed by hand (python -m hotdog stop --force)")
        print(f"marked {run.id} as failed: it no longer blocks a new training")
        return 0
    if run.state not in runs.ACTIVE_STATES:
        print(f"{run.id} is not training ({run.listed_state}); nothing to stop")
        return 0
    run.request_stop()
    print(f"asked {run.id} to stop after its current batch")
    return 0


def add_verdict_arguments(parser: argparse.ArgumentParser) -> None:
    """The photos, threshold and output options of every command that gives verdicts (`predict`, `explain`)."""
    parser.add_argument("images", nargs="+", help="photo files (JPEG, PNG, GIF, BMP, WebP, AVIF, HEIC)")
    parser.add_argument("--threshold", type=float, default=0.5, help="P(hotdog) needed to say hotdog")
    parser.add_argument("--json", action="store_true", help="one JSON object per photo")


def build_parser() -> argparse.ArgumentParser:
    from hotdog.models import REGISTRY, model_names

    parser = argparse.ArgumentParser(prog="python -m hotdog", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runs_dir = argparse.ArgumentParser(add_help=False)
    runs_dir.add_argument("--runs-dir", type=Path, default=None,
                          help="where run folders live (default: $HOTDOG_RUNS_DIR or ./runs)")

    demo = commands.add_parser("demo-data", help="draw the built-in synthetic dataset (offline)")
    demo.add_argument("dir", type=Path, help="folder to create (kept as it is if it already holds the dataset)")
    demo.add_argument("--seed", type=int, default=0, help="same seed, same images (default 0)")
    demo.set_defaults(handler=cmd_demo_data)

    check = commands.add_parser("check-data", help="counts, majority baseline, unreadable files, leakage")
    check.add_argument("dir", help="dataset root holding train/ (and optionally validation/, test/)")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=cmd_check_data)

    fetch = commands.add_parser(
        "download", help="download a dataset zip, check it and unpack it (the classic hot-dog dataset by default)",
        description="Download a dataset zip over http(s), check its SHA-1 and unpack it safely into a new folder. "
                    "Addresses on this server's own networks (loopback, private, link-local...) are refused unless "
                    "HOTDOG_ALLOW_PRIVATE_DOWNLOADS=1 (a local mirror).")
    fetch.add_argument("url", nargs="?", help="http(s) address of a dataset zip (default: the classic hot-dog "
                                              "dataset, 260 MB, SHA-1 checked)")
    fetch.add_argument("--into", type=Path, help="folder to unpack into (default: the app's data folder, "
                                                 "$HOTDOG_DATA_DIR, else data/ in the repository)")
    fetch.add_argument("--sha1", help="expected SHA-1 of the zip (checked for the default dataset anyway)")
    fetch.set_defaults(handler=cmd_download)

    names = ", ".join(f"{name} ({spec.title})" for name, spec in REGISTRY.items() if spec.trainable)
    train = commands.add_parser("train", parents=[runs_dir], help="train a model into a new run folder",
                                description=f"Train a model. Models: {names}. Settings left out take the "
                                            f"model's defaults. Stop with Ctrl+C, `python -m hotdog stop RUN` (a "
                                            f"STOP file in the run folder) or SIGTERM: the best model so far is "
                                            f"kept.")
    train.add_argument("--data", help="dataset root holding train/ (validation/ and test/ optional)")
    train.add_argument("--model", default="cnn", choices=model_names(trainable_only=True),
                       help="architecture (default cnn)")
    train.add_argument("--epochs", type=int, help="passes over the training photos")
    train.add_argument("--batch-size", type=int, help="photos per step")
    train.add_argument("--learning-rate", type=float, help="Adam learning rate")
    train.add_argument("--image-size", type=int, help="side of the square the photos are resized to")
    train.add_argument("--class-weight", choices=["auto", "none"], default="auto",
                       help="auto: weigh classes by inverse frequency (default)")
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                       help="random flips, rotations, zooms, contrast while training (default: per model)")
    train.add_argument("--early-stopping", action="store_true", help="stop when validation loss stops improving")
    train.add_argument("--fine-tune-epochs", type=int, default=0,
                       help="pretrained models: extra epochs with the top of the backbone unfrozen")
    train.add_argument("--mixed-precision", action="store_true", help="float16 compute on GPUs")
    train.add_argument("--seed", type=int, default=0, help="random seed: same seed, same run on CPU")
    train.add_argument("--name", help="a label for the run folder")
    train.add_argument("--resume", metavar="RUN", help="continue a stopped or failed run from its last epoch")
    train.add_argument("--run-dir", help=argparse.SUPPRESS)  # a folder already claimed by the app
    train.add_argument("--json", action="store_true", help="no progress bar; one JSON object as the last line")
    train.set_defaults(handler=cmd_train)

    predict = commands.add_parser("predict", help="verdicts for photos")
    predict.add_argument("model", help="run folder, .keras file, or 'imagenet' (pretrained, no training)")
    add_verdict_arguments(predict)
    predict.set_defaults(handler=cmd_predict)

    explain = commands.add_parser("explain", parents=[runs_dir], help="why did it say that? Grad-CAM heatmaps",
                                  description="For each photo, the verdict and a picture of it with a Grad-CAM "
                                              "heatmap laid over it: red where the evidence for the verdict lies.")
    explain.add_argument("model", help="run folder or id, a .keras file, or 'imagenet'")
    add_verdict_arguments(explain)
    explain.add_argument("--out", type=Path, required=True, help="folder for the heatmap pictures (PNG)")
    explain.set_defaults(handler=cmd_explain)

    from hotdog.export import FORMATS

    formats = "; ".join(f"{name}: {kind.description}" for name, kind in FORMATS.items())
    export = commands.add_parser("export", parents=[runs_dir], help="the model as .keras, TFLite or SavedModel",
                                 description=f"Write a trained model in another format, then reload the file and "
                                             f"check it against the model on validation photos. Formats: {formats}. "
                                             f"Every format takes RGB pixels 0..255 (float32, batch x size x size "
                                             f"x 3) and returns P(hotdog).")
    export.add_argument("model", help="run folder or id, a .keras file, or 'imagenet'")
    export.add_argument("--format", required=True, choices=list(FORMATS), help="what to write")
    export.add_argument("--out", required=True,
                        help="file to write, or a folder (existing, or ending in /) to write it in")
    export.add_argument("--data", help="dataset whose train photos calibrate int8 and whose validation photos check "
                                       "the export (default: the run's own)")
    export.set_defaults(handler=cmd_export)

    evaluate = commands.add_parser(
        "evaluate", parents=[runs_dir], help="score a model on any labelled folder",
        description="Score a run, a .keras file or the zero-shot 'imagenet' model on labelled photos: a dataset "
                    "(its test split unless --split says otherwise) or a plain folder holding a hotdog and a "
                    "not-hotdog folder (hotdog / hot_dog / hot-dog, nohotdog / not_hotdog / not-hotdog / "
                    "nothotdog...), scored whole. Runs and 'imagenet' keep the per-photo scores for the Evaluate "
                    "page.")
    evaluate.add_argument("run", help="run folder or id, a .keras file, or 'imagenet'")
    evaluate.add_argument("--data", required=True, help="a dataset root, or a folder holding hotdog/ and nohotdog/")
    evaluate.add_argument("--split", choices=["train", "validation", "test"],
                          help="which split of a dataset (default test); not for a plain class folder")
    evaluate.add_argument("--threshold", type=float, default=0.5, help="P(hotdog) needed to say hotdog")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=cmd_evaluate)

    listing = commands.add_parser("runs", parents=[runs_dir], help="list runs, newest first")
    listing.add_argument("--json", action="store_true", help="one JSON object per run")
    listing.set_defaults(handler=cmd_runs)

    stop = commands.add_parser("stop", parents=[runs_dir], help="ask a running training to stop")
    stop.add_argument("run", help="run folder or id")
    stop.add_argument("--force", action="store_true",
                      help="mark the run failed at once, whatever its status says (a run left 'running' by a crash "
                           "or a hand edit); it is asked to stop as well, in case it still trains")
    stop.set_defaults(handler=cmd_stop)
    return parser


def main(argv: list[str] | None = None) -> int:
    training.configure_console()
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, runs.TrainingBusy, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
