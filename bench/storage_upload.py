"""How an export's zip reaches object storage: streamed forward only through django-storages'
S3File (multipart upload, 5 MB parts, what annotations/export/storing.py does), against writing the
zip to local disk first and handing it to boto3's upload_fileobj (parallel 8 MB parts).

    .venv/bin/python bench/storage_upload.py [--megabytes 200] [--runs 3]

moto's S3 server runs as a separate process on 127.0.0.1 (it stands in for the network and the
store, so the figures measure our side: time, peak RSS, local disk). Each mode runs in a fresh
process; the bundle member is JSONL-like text, deflated as an export's is."""

import argparse
import hashlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "labelhub-bench"


def member(path: Path, megabytes: int) -> None:
    """Pairs-like JSON lines: repeated vocabulary with varying numbers, compressing about 4:1."""
    words = [hashlib.sha256(str(i).encode()).hexdigest()[:7] for i in range(5000)]
    with path.open("w") as out:
        i = 0
        while out.tell() < megabytes * 2**20:
            chunk = []
            for _ in range(1000):
                i += 1
                text = " ".join(words[(i * k) % 5000] for k in range(1, 40))
                chunk.append(json.dumps({"prompt": f"q{i}", "chosen": text, "rejected": text[::-1], "id": i}) + "\n")
            out.write("".join(chunk))


def child(mode: str, source: Path, scratch: Path) -> dict:
    import django

    django.setup()
    import boto3

    from annotations import storage
    from annotations.export import writers

    started = time.perf_counter()
    local_bytes = 0
    if mode == "stream":
        with storage.open_for_writing(f"bench/{mode}.zip") as sink:
            writers.write_zip(source.parent, [source.name], sink)
    else:
        zip_path = scratch / "bundle.zip"
        with zip_path.open("wb") as out:
            writers.write_zip(source.parent, [source.name], out)
        local_bytes = zip_path.stat().st_size
        client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        with zip_path.open("rb") as handle:
            client.upload_fileobj(handle, BUCKET, f"labelhub/bench/{mode}.zip")
        zip_path.unlink()
    return {"mode": mode, "seconds": round(time.perf_counter() - started, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "local_zip_mb": round(local_bytes / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, source, scratch = args.child
        print(json.dumps(child(mode, Path(source), Path(scratch))))
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
           "STORAGE_URL": f"s3://{BUCKET}/labelhub", "DJANGO_SETTINGS_MODULE": "labelhub.settings"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import boto3

        for _ in range(100):
            try:
                boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                             aws_access_key_id="bench", aws_secret_access_key="bench").create_bucket(Bucket=BUCKET)
                break
            except Exception:
                time.sleep(0.2)
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "pairs.jsonl"
            member(source, args.megabytes)
            print(f"member: {source.stat().st_size / 2**20:.0f} MB of JSON lines")
            for _ in range(args.runs):
                for mode in ("stream", "local-then-upload_fileobj"):
                    out = subprocess.run([sys.executable, __file__, "--child", mode, str(source), tmp], env=env,
                                         cwd=ROOT, capture_output=True, text=True, check=True)
                    print(out.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
