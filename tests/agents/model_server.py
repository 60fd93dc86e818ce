#!/usr/bin/env python3
"""A scripted model server for fanout's real-agent tests (Python standard library only).

It speaks, with SSE streaming and tool calls:
  - the Anthropic Messages API          POST .../v1/messages            (claude)
  - the OpenAI Responses API            POST .../responses              (codex)
  - the OpenAI Chat Completions API     POST .../chat/completions       (aider, opencode, qwen)
  - the Gemini API                      POST .../models/M:streamGenerateContent, :generateContent
                                                                        (gemini)

Every conversation is answered the same way, whatever the CLI: find the CLI's own edit tool
among the tools it sent, fill in the parameters *its* schema names (file_path / filePath /
path, old_string / oldString, content, ...), so the CLI really edits the task file: the task's
line (read from fanout's prompt: "The task is at F:L", and "> L | text") becomes
`text` with TODO replaced by DONE and " (scripted model)" appended. When the edit tool says
the file must be read first (Claude Code, OpenCode), the read tool is called first. Once the
edit's result is back, the turn ends with a short text (sent in several deltas). A follow-up
("Follow-up on your earlier work ...") that carries the earlier conversation edits the marker
line once more (" (scripted model)" becomes " (scripted model, followed up)"); one without it
answers "no earlier conversation" and edits nothing. Aider, which has no tools, gets a
SEARCH/REPLACE block in its diff format.

Each response reports token usage the way its API does, prompt-cache fields included, with
distinctive numbers derived from the request's sequence number n (see `usage_for`). Every
request is appended to the log (JSON lines): what was asked, what was answered, the usage
reported and its total (Anthropic: input + cache creation + cache read + output; OpenAI:
input + output, cached tokens being part of input; Gemini: totalTokenCount).

    model_server.py --port-file F --log L [--idle-timeout S] [--parent-pid P]

binds 127.0.0.1 on a free port, writes it to F (atomically) and prints it, and stops on its
own when nothing asked for `--idle-timeout` seconds (default 900) or when process P is gone.
"""

import argparse
import json
import os
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARK = " (scripted model)"
FOLLOWED = " (scripted model, followed up)"
FOLLOW_UP_HEAD = "Follow-up on your earlier work"

LOCK = threading.Lock()
STATE = {"n": 0, "last": time.monotonic()}
ARGS = None


# ---------------------------------------------------------------------------------------------
# The conversation, whatever the API: a list of events
#   ("user", text) ("assistant", text) ("call", name, args, id) ("result", id, text)
# and the tools offered: [{"name", "description", "schema", "kind"}]


def text_of(content):
    """The text of a message content: a string, or a list of blocks/parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for b in content:
            if isinstance(b, str):
                out.append(b)
            elif isinstance(b, dict):
                if isinstance(b.get("text"), str):
                    out.append(b["text"])
                elif b.get("type") == "tool_result":
                    out.append(text_of(b.get("content")))
        return "\n".join(out)
    if isinstance(content, dict):
        return text_of(content.get("text") or content.get("content"))
    return str(content)


def anthropic_conversation(req):
    events = []
    for m in req.get("messages", []):
        role = m.get("role")
        content = m.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        texts = []
        for b in blocks:
            t = b.get("type")
            if t == "text":
                texts.append(b.get("text", ""))
            elif t == "tool_use":
                events.append(("call", b.get("name"), b.get("input") or {}, b.get("id")))
            elif t == "tool_result":
                events.append(("result", b.get("tool_use_id"), text_of(b.get("content"))))
        text = "\n".join(x for x in texts if x.strip())
        if text:
            events.append((role if role == "user" else "assistant", text))
    tools = [
        {"name": t.get("name"), "description": t.get("description", ""),
         "schema": t.get("input_schema") or {}, "kind": "function"}
        for t in req.get("tools", []) or [] if t.get("name")
    ]
    return events, tools, text_of(req.get("system"))


def responses_conversation(req):
    events = []
    for it in req.get("input", []) or []:
        t = it.get("type", "message")
        if t == "message":
            role = it.get("role")
            text = text_of(it.get("content"))
            if role in ("user", "assistant") and text.strip():
                events.append((role, text))
        elif t in ("function_call", "custom_tool_call", "local_shell_call"):
            args = it.get("arguments")
            if t == "custom_tool_call":
                args = {"input": it.get("input", "")}
            elif isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    args = {"raw": args}
            events.append(("call", it.get("name", t), args or {}, it.get("call_id")))
        elif t in ("function_call_output", "custom_tool_call_output"):
            out = it.get("output")
            events.append(("result", it.get("call_id"), out if isinstance(out, str) else json.dumps(out)))
    tools = []
    for t in req.get("tools", []) or []:
        if t.get("type") == "function":
            tools.append({"name": t.get("name"), "description": t.get("description", ""),
                          "schema": t.get("parameters") or {}, "kind": "function"})
        elif t.get("type") == "custom":
            tools.append({"name": t.get("name"), "description": t.get("description", ""),
                          "schema": {}, "kind": "custom"})
    return events, tools, req.get("instructions") or ""


def chat_conversation(req):
    events = []
    system = []
    for m in req.get("messages", []):
        role = m.get("role")
        if role in ("system", "developer"):
            system.append(text_of(m.get("content")))
            continue
        if role == "tool":
            events.append(("result", m.get("tool_call_id"), text_of(m.get("content"))))
            continue
        text = text_of(m.get("content"))
        if text.strip():
            events.append(("user" if role == "user" else "assistant", text))
        for c in m.get("tool_calls") or []:
            f = c.get("function", {})
            try:
                args = json.loads(f.get("arguments") or "{}")
            except ValueError:
                args = {"raw": f.get("arguments")}
            events.append(("call", f.get("name"), args, c.get("id")))
    tools = [
        {"name": t["function"].get("name"), "description": t["function"].get("description", ""),
         "schema": t["function"].get("parameters") or {}, "kind": "function"}
        for t in req.get("tools", []) or [] if t.get("type", "function") == "function" and t.get("function")
    ]
    return events, tools, "\n".join(system)


def gemini_conversation(req):
    events = []
    for c in req.get("contents", []) or []:
        role = c.get("role", "user")
        texts = []
        for p in c.get("parts", []) or []:
            if "text" in p and not p.get("thought"):
                texts.append(p["text"])
            elif "functionCall" in p:
                fc = p["functionCall"]
                events.append(("call", fc.get("name"), fc.get("args") or {}, fc.get("id") or fc.get("name")))
            elif "functionResponse" in p:
                fr = p["functionResponse"]
                events.append(("result", fr.get("id") or fr.get("name"), json.dumps(fr.get("response"))))
        text = "\n".join(t for t in texts if t.strip())
        if text:
            events.append(("user" if role == "user" else "assistant", text))
    tools = []
    for t in req.get("tools", []) or []:
        for d in t.get("functionDeclarations", []) or []:
            tools.append({"name": d.get("name"), "description": d.get("description", ""),
                          "schema": d.get("parametersJsonSchema") or d.get("parameters") or {},
                          "kind": "function"})
    return events, tools, text_of((req.get("systemInstruction") or {}).get("parts"))


# ---------------------------------------------------------------------------------------------
# What to answer


TASK_AT = re.compile(r"The task is at (\S+?):(\d+) in this repository")


def find_task(events):
    """(file, line number, line text) from fanout's first prompt in the conversation."""
    for e in events:
        if e[0] != "user":
            continue
        m = TASK_AT.search(e[1])
        if not m:
            continue
        file, line = m.group(1), int(m.group(2))
        text = None
        for row in e[1].splitlines():
            mm = re.match(r"^>\s*(\d+) \| (.*)$", row)
            if mm and int(mm.group(1)) == line:
                text = mm.group(2)
        return {"file": file, "line": line, "text": text}
    return None


def marked(line_text):
    return line_text.replace("TODO", "DONE", 1) + MARK


def find_cwd(blob, rel_file):
    """The working directory the CLI told the model about: the first absolute path in the
    request under which the task file exists."""
    seen = set()
    for m in re.finditer(r"(/[^\s\"'<>`|:;,()\[\]{}\\]+)", blob):
        cand = m.group(1).rstrip(".")
        while cand and cand not in seen:
            seen.add(cand)
            if os.path.isfile(os.path.join(cand, rel_file)):
                return cand
            parent = os.path.dirname(cand)
            if parent == cand or parent == "/":
                break
            cand = parent
    return None


PATH_KEYS = ["file_path", "filePath", "absolute_path", "path", "file", "filename", "target_file"]
OLD_KEYS = ["old_string", "oldString", "old_str", "old_text", "old", "search"]
NEW_KEYS = ["new_string", "newString", "new_str", "new_text", "new", "replace"]
CONTENT_KEYS = ["content", "contents", "text", "file_text"]


def props(tool):
    return (tool.get("schema") or {}).get("properties") or {}


def pick(keys, names):
    for k in keys:
        if k in names:
            return k
    return None


def find_edit_tool(tools):
    """The CLI's own edit tool: a replace-style tool (path + old + new), else apply_patch,
    else a write tool (path + content)."""
    best = None
    for t in tools:
        p = props(t)
        if pick(PATH_KEYS, p) and pick(OLD_KEYS, p) and pick(NEW_KEYS, p):
            # Prefer the plain single edit over multi-edit variants.
            if "multi" not in t["name"].lower():
                return ("replace", t)
            best = best or ("replace", t)
    if best:
        return best
    for t in tools:
        if t["name"] == "apply_patch":
            return ("patch", t)
    for t in tools:
        p = props(t)
        if pick(PATH_KEYS, p) and pick(CONTENT_KEYS, p) and re.search(r"write|create", t["name"], re.I):
            return ("write", t)
    return None


def find_read_tool(tools):
    for t in tools:
        if re.fullmatch(r"(?i)read|read_?file|view", t["name"] or "") and pick(PATH_KEYS, props(t)):
            return t
    return None


def wants_read_first(tool):
    return bool(re.search(r"read.{0,60}(before|first)|(before|first).{0,60}read", tool.get("description", ""), re.I | re.S))


def fill_args(tool, values):
    """Arguments for `tool` from `values` (path, old, new, content), under its own names, plus
    any other required parameter given a harmless value."""
    p = props(tool)
    args = {}
    for keys, v in (
        (PATH_KEYS, values.get("path")),
        (OLD_KEYS, values.get("old")),
        (NEW_KEYS, values.get("new")),
        (CONTENT_KEYS, values.get("content")),
    ):
        k = pick(keys, p)
        if k and v is not None:
            args[k] = v
    for k in (tool.get("schema") or {}).get("required") or []:
        if k in args:
            continue
        ty = (p.get(k) or {}).get("type")
        if ty == "boolean":
            args[k] = False
        elif ty in ("integer", "number"):
            args[k] = 1
        elif ty == "array":
            args[k] = []
        else:
            args[k] = "Replace the task's TODO line with the scripted marker."
    return args


def plan(events, tools, system):
    """What to answer: {"text": ...} or {"call": name, "args": ..., "kind": ...}, and a
    description for the log."""
    users = [i for i, e in enumerate(events) if e[0] == "user"]
    info = {"resumed": None}
    if not users:
        return {"text": "Nothing to do."}, info
    last_user = events[users[-1]][1]
    segment = events[users[-1] + 1:]
    calls = [e for e in segment if e[0] == "call"]
    follow_up = FOLLOW_UP_HEAD in last_user
    task = find_task(events)
    info.update({"task": task, "follow_up": follow_up, "calls_so_far": len(calls)})
    if follow_up:
        # Did the CLI send the earlier conversation (fanout's first prompt) along?
        info["resumed"] = any(TASK_AT.search(events[i][1]) for i in users[:-1])
    if task is None or task["text"] is None:
        return {"text": "I see no task here."}, info
    if follow_up and not info["resumed"]:
        return {"text": "There is no earlier conversation here to follow up on."}, info
    old = marked(task["text"]) if follow_up else task["text"]
    new = old.replace(MARK, FOLLOWED) if follow_up else marked(task["text"])
    if not tools:
        return aider_plan(events, users, system, task, old, new, info)
    edit = find_edit_tool(tools)
    if edit is None:
        return {"text": "I found no tool to edit files with."}, info
    kind, tool = edit
    blob = system + "\n" + "\n".join(e[1] for e in events if e[0] in ("user", "assistant"))
    cwd = find_cwd(blob, task["file"])
    info["cwd"] = cwd
    path = os.path.join(cwd, task["file"]) if cwd else task["file"]
    steps = []
    read = find_read_tool(tools)
    if kind != "patch" and read and wants_read_first(tool):
        steps.append(("read", read, fill_args(read, {"path": path})))
    if kind == "replace":
        steps.append(("edit", tool, fill_args(tool, {"path": path, "old": old, "new": new})))
    elif kind == "patch":
        patch = (
            "*** Begin Patch\n*** Update File: " + task["file"] + "\n@@\n-" + old + "\n+" + new
            + "\n*** End Patch\n"
        )
        args = {"input": patch} if tool["kind"] == "custom" else fill_args(tool, {}) | {"input": patch}
        steps.append(("edit", tool, args))
    else:
        cwd_file = path if os.path.isabs(path) else None
        try:
            with open(cwd_file, encoding="utf-8") as f:
                content = f.read().replace(old, new, 1)
        except (OSError, TypeError):
            return {"text": "I cannot read the task file to rewrite it."}, info
        steps.append(("edit", tool, fill_args(tool, {"path": path, "content": content})))
    if len(calls) < len(steps):
        step, tool, args = steps[len(calls)]
        info["step"] = step
        return {"call": tool["name"], "args": args, "kind": tool["kind"]}, info
    info["step"] = "finish"
    results = [e for e in segment if e[0] == "result"]
    info["last_result"] = (results[-1][2] if results else "")[:300]
    what = "followed up on" if follow_up else "replaced"
    return {"text": f"Done: I {what} the TODO line in {task['file']}.\nNothing else changed."}, info


def aider_plan(events, users, system, task, old, new, info):
    """Aider has no tools: its edit format is text. It asks again when the edit named a file
    not yet in the chat ("I added these files to the chat"), without applying it: then the
    edit is sent again. Anything else it says after our edit is answered with a short text."""
    info["step"] = "finish"
    if "SEARCH/REPLACE" not in system:
        # Not a coding conversation: a title, a commit message.
        info["side"] = True
        return {"text": "Scripted reply."}, info
    last = events[users[-1]][1]
    asked = TASK_AT.search(last) or FOLLOW_UP_HEAD in last or "added these files to the chat" in last
    if not asked:
        return {"text": "Done: the TODO line is replaced."}, info
    info["step"] = "edit"
    text = (
        "I replace the TODO line.\n\n"
        f"{task['file']}\n```\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n```\n"
    )
    return {"text": text}, info


# ---------------------------------------------------------------------------------------------
# Usage, distinctive per request


def usage_for(api, n):
    if api == "anthropic":
        u = {"input_tokens": 10 + n, "cache_creation_input_tokens": 1200 + 10 * n,
             "cache_read_input_tokens": 2400 + 100 * n, "output_tokens": 30 + n}
        total = sum(u.values())
    elif api == "responses":
        cached = 1000 + 10 * n
        u = {"input_tokens": 1500 + 100 * n, "input_tokens_details": {"cached_tokens": cached},
             "output_tokens": 40 + n, "output_tokens_details": {"reasoning_tokens": 0}}
        u["total_tokens"] = total = u["input_tokens"] + u["output_tokens"]
    elif api == "chat":
        # Under 1,000 so that aider's "Tokens: N sent" line shows them exactly.
        u = {"prompt_tokens": 500 + 7 * n, "completion_tokens": 20 + n,
             "prompt_tokens_details": {"cached_tokens": 300 + 3 * n}}
        u["total_tokens"] = total = u["prompt_tokens"] + u["completion_tokens"]
    else:  # gemini
        prompt = 2000 + 100 * n
        u = {"promptTokenCount": prompt, "cachedContentTokenCount": 1500 + 10 * n,
             "candidatesTokenCount": 25 + n}
        u["totalTokenCount"] = total = prompt + u["candidatesTokenCount"]
    return u, total


def next_n():
    with LOCK:
        STATE["n"] += 1
        STATE["last"] = time.monotonic()
        return STATE["n"]


def log(entry):
    entry["time"] = time.time()
    with LOCK:
        with open(ARGS.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


def chunks(text, k=3):
    """The text in k pieces, for streaming as deltas."""
    size = max(1, -(-len(text) // k))
    return [text[i:i + size] for i in range(0, len(text), size)]


def new_id(prefix):
    return prefix + uuid.uuid4().hex[:20]


# ---------------------------------------------------------------------------------------------
# HTTP


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scripted-model/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return {}

    def send_json(self, obj, status=200):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_sse(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def sse(self, data, event=None):
        out = ""
        if event:
            out += f"event: {event}\n"
        out += "data: " + (data if isinstance(data, str) else json.dumps(data)) + "\n\n"
        self.wfile.write(out.encode())
        self.wfile.flush()

    def do_HEAD(self):
        STATE["last"] = time.monotonic()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        STATE["last"] = time.monotonic()
        path = self.path.split("?")[0]
        log({"method": "GET", "path": self.path, "api": "other"})
        if path.endswith("/models"):
            self.send_json({"object": "list", "data": [{"id": "scripted-model", "object": "model"}],
                            "models": []})
        else:
            self.send_json({"error": {"message": f"no such endpoint {path}"}}, 404)

    def do_POST(self):
        path = self.path.split("?")[0]
        req = self.body()
        try:
            if path.endswith("/messages/count_tokens"):
                next_n()
                log({"method": "POST", "path": self.path, "api": "anthropic-count"})
                return self.send_json({"input_tokens": 1234})
            if path.endswith("/messages"):
                return self.anthropic(req)
            if path.endswith("/responses"):
                return self.openai_responses(req)
            if path.endswith("/chat/completions"):
                return self.chat(req)
            m = re.search(r"/models/([^/:]+):(streamGenerateContent|generateContent|countTokens)$", path)
            if m:
                if m.group(2) == "countTokens":
                    next_n()
                    log({"method": "POST", "path": self.path, "api": "gemini-count"})
                    return self.send_json({"totalTokens": 1234})
                return self.gemini(req, m.group(1), m.group(2) == "streamGenerateContent")
            STATE["last"] = time.monotonic()
            log({"method": "POST", "path": self.path, "api": "other", "body_keys": sorted(req)})
            self.send_json({"error": {"message": f"no such endpoint {path}"}}, 404)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def record(self, api, req, events, tools, answer, info, usage, total, n):
        log({
            "n": n, "method": "POST", "path": self.path, "api": api,
            "model": req.get("model") or info.get("model"),
            "stream": bool(req.get("stream", api == "gemini-stream")),
            "tools": [t["name"] for t in tools],
            "events": len(events),
            "answer": answer, "usage": usage, "total_tokens": total,
            "user_agent": self.headers.get("User-Agent"),
            **info,
        })

    # --- Anthropic Messages

    def anthropic(self, req):
        n = next_n()
        events, tools, system = anthropic_conversation(req)
        answer, info = plan(events, tools, system)
        usage, total = usage_for("anthropic", n)
        self.record("anthropic", req, events, tools, answer, info, usage, total, n)
        model = req.get("model", "scripted-model")
        msg_id = new_id("msg_")
        if "call" in answer:
            block = {"type": "tool_use", "id": new_id("toolu_"), "name": answer["call"], "input": answer["args"]}
            stop = "tool_use"
        else:
            block = {"type": "text", "text": answer["text"]}
            stop = "end_turn"
        if not req.get("stream"):
            return self.send_json({"id": msg_id, "type": "message", "role": "assistant", "model": model,
                                   "content": [block], "stop_reason": stop, "stop_sequence": None,
                                   "usage": usage})
        self.start_sse()
        start_usage = dict(usage, output_tokens=1)
        self.sse({"type": "message_start", "message": {
            "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}}, "message_start")
        if block["type"] == "text":
            self.sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                     "content_block_start")
            for piece in chunks(block["text"]):
                self.sse({"type": "content_block_delta", "index": 0,
                          "delta": {"type": "text_delta", "text": piece}}, "content_block_delta")
        else:
            self.sse({"type": "content_block_start", "index": 0,
                      "content_block": dict(block, input={})}, "content_block_start")
            for piece in chunks(json.dumps(block["input"]), 2):
                self.sse({"type": "content_block_delta", "index": 0,
                          "delta": {"type": "input_json_delta", "partial_json": piece}}, "content_block_delta")
        self.sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        self.sse({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                  "usage": usage}, "message_delta")
        self.sse({"type": "message_stop"}, "message_stop")

    # --- OpenAI Responses

    def openai_responses(self, req):
        n = next_n()
        events, tools, system = responses_conversation(req)
        answer, info = plan(events, tools, system)
        usage, total = usage_for("responses", n)
        self.record("responses", req, events, tools, answer, info, usage, total, n)
        resp_id = new_id("resp_")
        model = req.get("model", "scripted-model")
        if "call" in answer:
            call_id = new_id("call_")
            if answer["kind"] == "custom":
                item = {"type": "custom_tool_call", "id": new_id("ctc_"), "call_id": call_id,
                        "name": answer["call"], "input": answer["args"]["input"], "status": "completed"}
            else:
                item = {"type": "function_call", "id": new_id("fc_"), "call_id": call_id,
                        "name": answer["call"], "arguments": json.dumps(answer["args"]), "status": "completed"}
        else:
            item = {"type": "message", "id": new_id("msg_"), "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": answer["text"], "annotations": []}]}
        response = {"id": resp_id, "object": "response", "created_at": int(time.time()), "model": model,
                    "status": "completed", "output": [item], "usage": usage}
        if not req.get("stream"):
            return self.send_json(response)
        self.start_sse()
        self.sse({"type": "response.created", "response": dict(response, status="in_progress", output=[])},
                 "response.created")
        self.sse({"type": "response.output_item.added", "output_index": 0,
                  "item": dict(item, status="in_progress")}, "response.output_item.added")
        if item["type"] == "message":
            for piece in chunks(answer["text"]):
                self.sse({"type": "response.output_text.delta", "item_id": item["id"], "output_index": 0,
                          "content_index": 0, "delta": piece}, "response.output_text.delta")
        self.sse({"type": "response.output_item.done", "output_index": 0, "item": item},
                 "response.output_item.done")
        self.sse({"type": "response.completed", "response": response}, "response.completed")

    # --- OpenAI Chat Completions

    def chat(self, req):
        n = next_n()
        events, tools, system = chat_conversation(req)
        answer, info = plan(events, tools, system)
        usage, total = usage_for("chat", n)
        self.record("chat", req, events, tools, answer, info, usage, total, n)
        cid = new_id("chatcmpl-")
        model = req.get("model", "scripted-model")
        created = int(time.time())
        if "call" in answer:
            call = {"id": new_id("call_"), "type": "function",
                    "function": {"name": answer["call"], "arguments": json.dumps(answer["args"])}}
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": answer["text"]}
            finish = "stop"
        if not req.get("stream"):
            return self.send_json({"id": cid, "object": "chat.completion", "created": created, "model": model,
                                   "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                                   "usage": usage})
        self.start_sse()

        def chunk(delta, finish_reason=None, **extra):
            self.sse({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                      "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra})

        chunk({"role": "assistant", "content": ""})
        if "call" in answer:
            call = message["tool_calls"][0]
            pieces = chunks(call["function"]["arguments"], 2)
            chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                   "function": {"name": call["function"]["name"], "arguments": pieces[0]}}]})
            for piece in pieces[1:]:
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        else:
            for piece in chunks(answer["text"]):
                chunk({"content": piece})
        chunk({}, finish)
        self.sse({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                  "choices": [], "usage": usage})
        self.sse("[DONE]")

    # --- Gemini

    def gemini(self, req, model, stream):
        n = next_n()
        events, tools, system = gemini_conversation(req)
        gen = req.get("generationConfig") or {}
        schema = gen.get("responseJsonSchema") or gen.get("responseSchema")
        if schema or gen.get("responseMimeType") == "application/json":
            # A side question (which model to route to, who speaks next): answered by the schema.
            answer = {"text": json.dumps(fill_schema(schema or {}))}
            info = {"step": "json", "side": True}
        else:
            answer, info = plan(events, tools, system)
        info["model"] = model
        usage, total = usage_for("gemini", n)
        self.record("gemini-stream" if stream else "gemini", req, events, tools, answer, info, usage, total, n)
        if "call" in answer:
            parts = [[{"functionCall": {"name": answer["call"], "args": answer["args"]}}]]
        else:
            parts = [[{"text": p}] for p in (chunks(answer["text"]) if stream else [answer["text"]])]
        responses = []
        for i, p in enumerate(parts):
            r = {"candidates": [{"content": {"role": "model", "parts": p}, "index": 0}], "modelVersion": model}
            if i == len(parts) - 1:
                r["candidates"][0]["finishReason"] = "STOP"
                r["usageMetadata"] = usage
            responses.append(r)
        if not stream:
            return self.send_json(responses[0])
        self.start_sse()
        for r in responses:
            self.sse(r)


def fill_schema(schema):
    """A value satisfying a (simple) JSON schema: the routing and next-speaker questions."""
    ty = str(schema.get("type", "object")).lower()
    if "enum" in schema:
        values = schema["enum"]
        return "user" if "user" in values else values[0]
    if ty == "object":
        return {k: fill_schema(v) for k, v in (schema.get("properties") or {}).items()}
    if ty == "array":
        return []
    if ty in ("integer", "number"):
        return schema.get("minimum", 0)
    if ty == "boolean":
        return False
    return "scripted"


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--idle-timeout", type=float, default=900)
    ap.add_argument("--parent-pid", type=int)
    ARGS = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, ARGS.port_file)
    print(port, flush=True)

    def watchdog():
        while True:
            time.sleep(1)
            idle = time.monotonic() - STATE["last"]
            parent_gone = False
            if ARGS.parent_pid:
                try:
                    os.kill(ARGS.parent_pid, 0)
                except ProcessLookupError:
                    parent_gone = True
                except PermissionError:
                    pass
            if idle > ARGS.idle_timeout or parent_gone:
                print("model server: stopping (" + ("parent gone" if parent_gone else "idle") + ")",
                      file=sys.stderr, flush=True)
                server.shutdown()
                return

    threading.Thread(target=watchdog, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
