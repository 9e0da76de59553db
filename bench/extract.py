"""What extraction costs over asking the model directly: ``extract()`` vs one SDK call.

Both sides talk to the same scripted fake server (tests/fakes/llm_server.py) over loopback
HTTP, which answers instantly with the same JSON, so what differs is Toolgate's own work:
schema export, the adapter's stream normalisation, validation with the tool validators and
the two writes of the ``Extraction`` record. The baseline is the plain OpenAI SDK call a
developer would write: ``chat.completions.create(stream=True, response_format=json_schema)``,
concatenate the deltas, ``json.loads``. Rounds are interleaved (baseline, extraction,
baseline, ...) so both see the same machine load; the medians are printed with their ratio.

Standalone: ``python bench/extract.py [--rounds N]`` (default 200; a few seconds). Its own
temporary SQLite database, deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_TMP = tempfile.TemporaryDirectory(prefix="toolgate-bench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["TOOLGATE_VAR_DIR"] = _TMP.name
os.environ["LOG_LEVEL"] = "ERROR"
os.environ["BENCH_LLM_KEY"] = "sk-bench-not-a-key"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402

from assistant.extraction.examples import Order  # noqa: E402
from assistant.extraction.schemas import from_model  # noqa: E402
from assistant.extraction.service import aextract  # noqa: E402
from assistant.providers.base import ChatMessage, ChatRequest, OutputFormat  # noqa: E402
from assistant.providers.profiles import get_profile, provider_for  # noqa: E402
from tests.fakes.llm_server import running  # noqa: E402
from tests.fakes.scripts import text  # noqa: E402

ANSWER = json.dumps({"customer": "Alice Smith", "delivery_date": "2025-03-14", "items": [
    {"product": "blue widget", "quantity": 2}, {"product": "gadget", "quantity": 1}]})
TEXT = "Alice Smith ordered 2 blue widgets and a gadget, to arrive on 14 March 2025."


async def bench(rounds: int) -> dict[str, list[float]]:
    with running(default=text(ANSWER, chunks=8)) as server:
        settings.LLM_PROFILES = json.dumps({"bench": {
            "provider": "openai", "model": "gpt-bench", "base_url": server.openai_base_url,
            "api_key_env": "BENCH_LLM_KEY", "max_retries": 0}})
        profile = get_profile("bench")
        provider = provider_for(profile)
        schema = from_model(Order)
        response_format = {"type": "json_schema",
                           "json_schema": {"name": schema.name, "schema": schema.strict(), "strict": True}}
        client = AsyncOpenAI(api_key="sk-bench-not-a-key", base_url=server.openai_base_url, max_retries=0)

        async def direct() -> None:
            stream = await client.chat.completions.create(
                model="gpt-bench", messages=[{"role": "user", "content": TEXT}], stream=True,
                response_format=response_format)
            parts = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
            json.loads("".join(parts))

        request = ChatRequest(model="gpt-bench", messages=[ChatMessage("user", TEXT)],
                              output=OutputFormat(schema.name, schema.strict(), strict=True))

        async def adapter() -> None:
            parts = [event async for event in provider.stream(request)]
            assert parts

        async def extraction() -> None:
            result = await aextract(schema, TEXT, profile=profile, provider=provider)
            assert result.data["customer"] == "Alice Smith"

        calls = {"baseline": direct, "adapter": adapter, "extract": extraction}
        for _ in range(20):  # warm up connections, caches, the ORM
            for call in calls.values():
                await call()
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                start = time.perf_counter()
                await call()
                samples[name].append((time.perf_counter() - start) * 1000)
        await client.close()
        await provider.aclose()
        return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    samples = asyncio.run(bench(args.rounds))
    base = statistics.median(samples["baseline"])
    print(f"Extraction overhead: {args.rounds} interleaved rounds, schema 'order' (strict json_schema), "
          "fake OpenAI server on loopback\n")
    print(f"{'':<62} {'median ms':>10} {'p95 ms':>8} {'ratio':>7}")
    labels = {"baseline": "baseline: SDK chat.completions.create + response_format",
              "adapter": "the Chat adapter alone (provider.stream, same request)",
              "extract": "extract(): adapter + validation + Extraction record"}
    for name, label in labels.items():
        xs = sorted(samples[name])
        median = statistics.median(xs)
        print(f"{label:<62} {median:>10.2f} {xs[int(len(xs) * 0.95)]:>8.2f} {median / base:>7.2f}")
    extract = statistics.median(samples["extract"])
    print(f"\noverhead per extraction over the baseline: {extract - base:+.2f} ms (median)")


if __name__ == "__main__":
    main()
