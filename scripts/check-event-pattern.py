"""The upload rule's event pattern against real-looking S3 events, with moto's EventBridge
pattern matcher (the venv's moto, as for the other loopback tests): every photo upload starts
the pipeline, a console "folder" (zero bytes, key ending in "/") does not. The takedown rule
takes every delete of the photo bucket and nothing else.

Usage: VENV/bin/python scripts/check-event-pattern.py infra/template.yaml
"""
import json
import sys

from cfnlint.decode import decode
from moto.events.models import EventPattern


def resolve(value, bucket):
    """The pattern with `!Ref PhotoBucket` replaced by a bucket name."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] == "PhotoBucket":
            return bucket
        return {k: resolve(v, bucket) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, bucket) for v in value]
    return value


def event(bucket, key, size):
    return {
        "version": "0",
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "etag": "d41d8cd98f00b204e9800998ecf8427e",
                       "sequencer": "00617F08299329D189"},
            "reason": "PutObject",
        },
    }


def deleted(bucket, key, deletion_type):
    return {
        "version": "0",
        "source": "aws.s3",
        "detail-type": "Object Deleted",
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                       "sequencer": "00617F0A2B3C4D5E6F"},
            "reason": "DeleteObject",
            "deletion-type": deletion_type,
        },
    }


def main(path):
    template, matches = decode(path)
    if template is None:
        sys.exit(f"cannot read {path}: {matches}")
    rule = template["Resources"]["UploadRule"]["Properties"]["EventPattern"]
    pattern = EventPattern.load(json.dumps(resolve(rule, "photos-bucket")))
    cases = [
        (event("photos-bucket", "uploads/beach.jpg", 245_000), True),
        (event("photos-bucket", "uploads/empty.jpg", 0), True),  # a broken upload: REJECTED
        (event("photos-bucket", "uploads/ünï code/x.png", 10), True),
        (event("photos-bucket", "uploads/", 0), False),  # the console's folder
        (event("photos-bucket", "odd/", 12), True),  # not a folder marker: it has bytes
        (event("another-bucket", "uploads/beach.jpg", 245_000), False),
    ]
    wrong = [(e["detail"], want) for e, want in cases if pattern.matches_event(e) != want]
    for detail, want in wrong:
        print(f"UploadRule: {detail} should {'match' if want else 'not match'}", file=sys.stderr)
    uploads = [e for e, _ in cases]
    rule = template["Resources"]["TakedownRule"]["Properties"]["EventPattern"]
    takedown = EventPattern.load(json.dumps(resolve(rule, "photos-bucket")))
    deletes = [
        (deleted("photos-bucket", "uploads/beach.jpg", "Delete Marker Created"), True),
        (deleted("photos-bucket", "uploads/beach.jpg", "Permanently Deleted"), True),
        (deleted("another-bucket", "uploads/beach.jpg", "Delete Marker Created"), False),
    ] + [(e, False) for e in uploads]
    wrong_deletes = [(e["detail-type"], e["detail"], want)
                     for e, want in deletes if takedown.matches_event(e) != want]
    for kind, detail, want in wrong_deletes:
        print(f"TakedownRule: {kind} {detail} should {'match' if want else 'not match'}",
              file=sys.stderr)
    sys.exit(1 if wrong or wrong_deletes else 0)


if __name__ == "__main__":
    main(sys.argv[1])
