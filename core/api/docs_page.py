"""``/api/docs``: a self-contained page that renders ``/api/openapi.json`` and can try GET endpoints.

FastAPI's own Swagger UI loads its script and styles from a CDN, which a Pulseboard behind a
firewall cannot reach and which would let a third party run script on the API's origin.
This page is one HTML document with inline CSS and script: it fetches the OpenAPI document
from the same server, lists every operation with its parameters and answers, and sends a
GET with the token you paste (kept in the page only, never stored). No external URL.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pulseboard API</title>
<style>
:root { color-scheme: light dark; --line: #8884; --muted: #888; --get: #0072B2; --post: #009E73; --delete: #D55E00; }
body { font: 15px/1.45 system-ui, sans-serif; max-width: 70rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; } .muted { color: var(--muted); }
details { border: 1px solid var(--line); border-radius: 6px; margin: .4rem 0; }
summary { cursor: pointer; padding: .45rem .6rem; display: flex; gap: .6rem; align-items: baseline; flex-wrap: wrap; }
.method { font: 700 12px monospace; color: #fff; padding: .1rem .4rem; border-radius: 4px; min-width: 3.5rem;
  text-align: center; }
.get { background: var(--get); } .post { background: var(--post); } .delete { background: var(--delete); }
code, pre { font-family: ui-monospace, monospace; font-size: 13px; }
.body { padding: 0 .8rem .8rem; } table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; border-bottom: 1px solid var(--line); padding: .25rem .4rem; vertical-align: top; }
pre { background: #8881; padding: .5rem; overflow: auto; max-height: 24rem; }
input { font: inherit; padding: .2rem .3rem; width: 100%; box-sizing: border-box; }
button { font: inherit; padding: .25rem .8rem; margin-top: .4rem; }
#token { max-width: 30rem; }
</style></head>
<body>
<h1 id="title">Pulseboard API</h1>
<p class="muted" id="about">Loading the OpenAPI document…</p>
<p><label>Bearer token (sent with “Try”, kept in this page only):
<input id="token" type="password" autocomplete="off" placeholder="pb_…"></label></p>
<div id="ops"></div>
<script>
"use strict";
const el = (tag, attrs = {}, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const kid of kids) node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return node;
};
const resolve = (doc, schema) => {
  while (schema && schema.$ref) schema = schema.$ref.split("/").slice(1).reduce((o, k) => o[k], doc);
  return schema || {};
};
const typeOf = (doc, schema) => {
  schema = resolve(doc, schema);
  if (schema.enum) return schema.enum.join(" | ");
  if (schema.anyOf) return schema.anyOf.map(s => typeOf(doc, s)).join(" or ");
  return schema.type || (schema.title || "object");
};
function operation(doc, path, method, op) {
  const params = (op.parameters || []);
  const rows = params.map(p => el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in),
    el("td", {}, p.required ? "required" : ""), el("td", {}, typeOf(doc, p.schema)),
    el("td", {}, p.description || (p.schema && p.schema.description) || "")));
  const body = el("div", {class: "body"});
  if (op.description) body.append(el("p", {}, op.description));
  const head = el("tr", {}, ...["name", "in", "", "type", "about"].map(h => el("th", {}, h)));
  if (rows.length) body.append(el("table", {}, head, ...rows));
  const request = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
  if (request) body.append(el("p", {}, "JSON body: ", el("code", {}, typeOf(doc, request.schema))));
  const answers = Object.entries(op.responses || {}).map(([code, r]) => code + " " + (r.description || ""));
  body.append(el("p", {class: "muted"}, "Answers: " + answers.join(" · ")));
  if (method === "get") {
    const inputs = {};
    const form = el("div");
    for (const p of params) {
      inputs[p.name] = el("input", {placeholder: p.name + (p.required ? " (required)" : "")});
      form.append(el("label", {}, el("code", {}, p.name), inputs[p.name]));
    }
    const out = el("pre", {hidden: ""});
    const go = el("button", {type: "button"}, "Try");
    go.addEventListener("click", async () => {
      let url = path, query = new URLSearchParams();
      for (const p of params) {
        const v = inputs[p.name].value;
        if (p.in === "path") url = url.replace("{" + p.name + "}", encodeURIComponent(v));
        else if (v) query.set(p.name, v);
      }
      const token = document.getElementById("token").value.trim();
      const headers = token ? {Authorization: "Bearer " + token} : {};
      out.hidden = false; out.textContent = "…";
      try {
        const reply = await fetch("." + url + (query.size ? "?" + query : ""), {headers});
        const text = await reply.text();
        let shown = text;
        try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) {}
        out.textContent = reply.status + " " + reply.statusText + "\\n\\n" + shown;
      } catch (error) { out.textContent = String(error); }
    });
    body.append(form, go, out);
  }
  return el("details", {}, el("summary", {}, el("span", {class: "method " + method}, method.toUpperCase()),
    el("code", {}, "/api" + path), el("span", {class: "muted"}, op.summary || "")), body);
}
fetch("openapi.json").then(r => r.json()).then(doc => {
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("about").textContent = (doc.info.description || "") + " Paths below are under /api.";
  const ops = document.getElementById("ops");
  for (const [path, item] of Object.entries(doc.paths).sort()) {
    for (const method of ["get", "post", "delete", "put", "patch"]) {
      if (item[method]) ops.append(operation(doc, path, method, item[method]));
    }
  }
}).catch(error => { document.getElementById("about").textContent = "Could not load openapi.json: " + error; });
</script>
</body></html>
"""


def router() -> APIRouter:
    """The ``/docs`` route (served as ``/api/docs``), kept out of the OpenAPI document itself."""
    routes = APIRouter()

    @routes.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Cache-Control": "no-cache"})

    return routes
