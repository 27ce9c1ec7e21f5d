#!/usr/bin/env python3
"""Read strata's event file and CSV log back with TensorBoard's own reader.

Usage (the CTest train.event_file.tensorboard runs it):
    python3 tests/train/read_events.py WRITER

WRITER is the write_event_fixture program (tests/train/write_event_fixture.cpp). It is run into a
fresh temporary directory, then the files are read three ways and checked against the values the
writer's comment lists, computed again here:
  1. record by record with TensorBoard's record reader (tensorflow_stub's PyRecordReader_New,
     which checks both masked CRC-32Cs of every record), each parsed strictly as a
     tensorboard.Event; the first holds file_version "brain.Event:2";
  2. with EventAccumulator, the legacy loader: scalars equal to the float32 of the value, their
     steps and wall times; histograms' min, max, num, sum, sum_squares and buckets;
  3. with EventFileLoader, which migrates old-style summaries to the tensors TensorBoard's
     scalars and histograms dashboards read (data_compat);
  4. with EventMultiplexer, what `tensorboard --logdir` serves: one run, both plugins, all steps;
and the CSV with Python's csv module: every number reads back as the same double.

Exits 77 (CTest: skipped) with the reason when the tensorboard package cannot be imported
(pip install tensorboard; scripts/test installs it when it can reach PyPI).
"""

import csv
import math
import os
import struct
import subprocess
import sys
import tempfile
import time

SKIP = 77


def skip(reason):
    print(f"SKIPPED: {reason}", file=sys.stderr)
    sys.exit(SKIP)


try:
    import tensorboard
    from tensorboard.backend.event_processing import event_accumulator, event_file_loader, plugin_event_multiplexer
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub import errors as tb_errors
    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
    from tensorboard.util import tensor_util
except ImportError as e:  # the package, or one of its dependencies
    skip(f"the tensorboard package cannot be imported with {sys.executable} ({e}); "
         "install it with: pip install tensorboard")


def f32(x):
    """x rounded to float32, as TensorBoard stores simple_value."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def check(condition, what):
    if not condition:
        raise AssertionError(what)


STEPS = range(10)
EXPECTED_SCALARS = {
    "train/loss": {s: 1.0 / (s + 1) for s in STEPS},
    "train/accuracy": {s: s / 10.0 for s in STEPS},
    "train/learning_rate": {s: 0.1 * math.pow(0.9, s) for s in STEPS},
    "train/images_per_second": {s: 1000.0 + s for s in STEPS},
    "train/loss_scale": {s: math.ldexp(1.0, 10 + s) for s in STEPS if s % 2 == 0},
    "validation/accuracy": {9: 0.875},
}
WEIGHTS = [-1 + i / 50.0 for i in range(101)]
GRADIENTS = [i / 100.0 - 0.5 for i in range(101)]
BIAS = [0.25] * 3
EXPECTED_HISTOGRAMS = {  # tag: (values, buckets)
    "weights/dense.weight": (WEIGHTS, 30),
    "gradients/dense.weight": (GRADIENTS, 7),
    "weights/dense.bias": (BIAS, 1),
}


def check_histogram(tag, h):
    values, buckets = EXPECTED_HISTOGRAMS[tag]
    check(h.min == min(values) and h.max == max(values), f"{tag}: min/max {h.min}, {h.max}")
    check(h.num == len(values), f"{tag}: num {h.num}")
    check(abs(h.sum - sum(values)) <= 1e-12, f"{tag}: sum {h.sum} vs {sum(values)}")
    check(abs(h.sum_squares - sum(v * v for v in values)) <= 1e-12 * len(values),
          f"{tag}: sum_squares {h.sum_squares}")
    check(len(h.bucket) == buckets and len(h.bucket_limit) == buckets,
          f"{tag}: {len(h.bucket)} buckets, {len(h.bucket_limit)} limits, expected {buckets}")
    check(sum(h.bucket) == len(values), f"{tag}: bucket counts sum to {sum(h.bucket)}")
    check(h.bucket_limit[-1] == max(values), f"{tag}: last limit {h.bucket_limit[-1]}")
    check(all(a < b for a, b in zip(h.bucket_limit, h.bucket_limit[1:])), f"{tag}: limits not increasing")
    # Each value counted in its bucket: the first k-1 closed-open, the last closed.
    lefts = [min(values)] + list(h.bucket_limit[:-1])
    for i, (lo, hi) in enumerate(zip(lefts, h.bucket_limit)):
        inside = sum(1 for v in values if lo <= v < hi or (i == buckets - 1 and v == hi))
        check(h.bucket[i] == inside, f"{tag}: bucket {i} [{lo}, {hi}) holds {h.bucket[i]}, expected {inside}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    writer = sys.argv[1]
    print(f"tensorboard {tensorboard.__version__} (Python {sys.version.split()[0]})")
    with tempfile.TemporaryDirectory(prefix="strata_tensorboard_") as root:
        started = time.time()
        result = subprocess.run([writer, root], capture_output=True, text=True)
        finished = time.time()
        if result.returncode != 0:
            raise AssertionError(f"{writer} failed ({result.returncode}): {result.stderr}")
        log_dir = os.path.join(root, "tensorboard")
        files = os.listdir(log_dir)
        check(len(files) == 1 and files[0].startswith("events.out.tfevents."), f"files in the log dir: {files}")
        path = os.path.join(log_dir, files[0])
        check(path == result.stdout.strip(), f"writer says {result.stdout.strip()}")
        check(int(files[0].split(".")[3]) in range(int(started) - 1, int(finished) + 1), f"file name time: {files[0]}")

        # 1. Records with both CRCs checked, each a valid Event.
        reader = pywrap_tensorflow.PyRecordReader_New(path)
        events = []
        while True:
            try:
                reader.GetNext()
            except tb_errors.OutOfRangeError:
                break
            events.append(event_pb2.Event.FromString(reader.record()))
        check(len(events) == 1 + 10 + 1 + 3, f"{len(events)} records")
        check(events[0].file_version == "brain.Event:2", f"first event: {events[0]}")
        for e in events:
            check(started - 1 <= e.wall_time <= finished + 1, f"wall_time {e.wall_time} outside the run")

        # 2. The legacy accumulator: scalars and histograms as they were written.
        acc = event_accumulator.EventAccumulator(log_dir, size_guidance=event_accumulator.STORE_EVERYTHING_SIZE_GUIDANCE)
        acc.Reload()
        check(acc.file_version == 2.0, f"file_version {acc.file_version}")
        tags = acc.Tags()
        check(sorted(tags["scalars"]) == sorted(EXPECTED_SCALARS), f"scalar tags {tags['scalars']}")
        check(sorted(tags["histograms"]) == sorted(EXPECTED_HISTOGRAMS), f"histogram tags {tags['histograms']}")
        for tag, expected in EXPECTED_SCALARS.items():
            got = {e.step: e.value for e in acc.Scalars(tag)}
            check(sorted(got) == sorted(expected), f"{tag}: steps {sorted(got)}")
            for step, value in expected.items():
                check(got[step] == f32(value), f"{tag} at step {step}: {got[step]!r}, expected {f32(value)!r}")
        for tag in EXPECTED_HISTOGRAMS:
            (h,) = acc.Histograms(tag)
            check(h.step == 9, f"{tag}: step {h.step}")
            check_histogram(tag, h.histogram_value)

        # 3. What TensorBoard's dashboards read: summaries migrated to tensors.
        migrated_scalars, migrated_histograms = {}, {}
        for e in event_file_loader.EventFileLoader(path).Load():
            for v in e.summary.value:
                plugin = v.metadata.plugin_data.plugin_name
                array = tensor_util.make_ndarray(v.tensor)
                if plugin == "scalars":
                    migrated_scalars[(v.tag, e.step)] = float(array)
                elif plugin == "histograms":
                    migrated_histograms[v.tag] = array
        check(len(migrated_scalars) == sum(len(v) for v in EXPECTED_SCALARS.values()),
              f"{len(migrated_scalars)} migrated scalars")
        for tag, expected in EXPECTED_SCALARS.items():
            for step, value in expected.items():
                check(migrated_scalars[(tag, step)] == f32(value), f"migrated {tag} at {step}")
        for tag, (values, buckets) in EXPECTED_HISTOGRAMS.items():
            array = migrated_histograms[tag]
            check(array.shape[1] == 3 and array[:, 2].sum() == len(values), f"migrated {tag}: {array}")
            check(array[0, 0] == f32(min(values)) and array[-1, 1] == f32(max(values)), f"migrated {tag} edges")

        # 4. What `tensorboard --logdir ROOT` serves: the log directory is a run with scalars and
        # histograms, every step present.
        multiplexer = plugin_event_multiplexer.EventMultiplexer()
        multiplexer.AddRunsFromDirectory(root)
        multiplexer.Reload()
        check(list(multiplexer.Runs()) == ["tensorboard"], f"runs {list(multiplexer.Runs())}")
        check({"scalars", "histograms"} <= set(multiplexer.ActivePlugins()), f"plugins {multiplexer.ActivePlugins()}")
        for tag, expected in EXPECTED_SCALARS.items():
            steps = [e.step for e in multiplexer.Tensors("tensorboard", tag)]
            check(steps == sorted(expected), f"served {tag}: steps {steps}")

        # The CSV: header, one row per step, numbers that read back exactly, empty unmeasured cells.
        with open(os.path.join(root, "train.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        check(len(rows) == 10, f"{len(rows)} CSV rows")
        columns = ["step", "epoch", "loss", "accuracy", "learning_rate", "images_per_second", "loss_scale"]
        check(list(rows[0].keys()) == columns, f"CSV columns {list(rows[0].keys())}")
        for s, row in zip(STEPS, rows):
            check(int(row["step"]) == s and int(row["epoch"]) == s // 5 + 1, f"CSV row {row}")
            for column in columns[2:]:
                expected = EXPECTED_SCALARS["train/" + column].get(s)
                if expected is None:
                    check(row[column] == "", f"CSV {column} at step {s}: {row[column]!r}, expected empty")
                else:
                    check(float(row[column]) == expected, f"CSV {column} at step {s}: {row[column]} != {expected!r}")
    print("event file and CSV read back by TensorBoard's reader: all values as written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
