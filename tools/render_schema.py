"""Write schema/schema.json, the amibackup plugin's Pulumi package schema, from amibackup.schema.

Run after changing a field in amibackup/schema.py: `.venv/bin/python tools/render_schema.py`
(tests/test_plugin.py fails while the checked-in file differs). The SDK generators and
examples read this file; the plugin itself serves the same schema, generated at run time.
"""

from __future__ import annotations

from pathlib import Path

from amibackup.plugin.package_schema import schema_json

TARGET = Path(__file__).resolve().parents[1] / "schema" / "schema.json"

if __name__ == "__main__":
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(schema_json())
    print(f"wrote {TARGET}")
