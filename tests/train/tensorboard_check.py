"""Reads TensorBoard event files independently of RecPrism: TFRecord framing with both masked
CRC-32C checks (crc32c implemented here from the Castagnoli polynomial), payloads decoded by protoc's
Python output for tensorboard_event.proto. Compares the scalars with train_log.jsonl.
usage: tensorboard_check.py PROTO_PY_DIR EVENTS_DIR JSONL"""
import glob, json, math, struct, sys

sys.path.insert(0, sys.argv[1])
import tensorboard_event_pb2 as pb  # noqa: E402

TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    TABLE.append(c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


files = glob.glob(sys.argv[2] + "/events.out.tfevents.*")
assert len(files) >= 1, "no event file in " + sys.argv[2]
scalars = {}
version = None
for path in files:
    raw = open(path, "rb").read()
    pos = 0
    while pos < len(raw):
        header = raw[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", raw[pos + 8:pos + 12])
        assert hcrc == masked(header), f"{path}@{pos}: bad length CRC"
        payload = raw[pos + 12:pos + 12 + length]
        (pcrc,) = struct.unpack("<I", raw[pos + 12 + length:pos + 16 + length])
        assert pcrc == masked(payload), f"{path}@{pos}: bad payload CRC"
        pos += 16 + length
        e = pb.Event()
        e.ParseFromString(payload)
        if e.WhichOneof("what") == "file_version":
            version = e.file_version
        elif e.WhichOneof("what") == "summary":
            for v in e.summary.value:
                scalars[(v.tag, e.step)] = v.simple_value
assert version == "brain.Event:2", version
steps = [json.loads(l) for l in open(sys.argv[3]) if '"type":"step"' in l]
assert steps, "no steps in the JSONL log"
n = 0
for s in steps:
    got = scalars[("train/loss", s["step"])]
    assert math.isclose(got, s["loss"], rel_tol=1e-6), (s["step"], got, s["loss"])
    n += 1
valid = [json.loads(l) for l in open(sys.argv[3]) if '"type":"valid"' in l]
for v in valid:
    assert math.isclose(scalars[("valid/ctr_auc", v["step"])], v["ctr_auc"], rel_tol=1e-6)
print(f"tensorboard: {len(scalars)} scalars, {n} train/loss steps and {len(valid)} validations match the JSONL log; CRCs ok")
