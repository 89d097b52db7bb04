// truenorth's API docs: renders /api/v1/openapi.json with nothing from outside this origin.
//
// Every value of the document is written with textContent on elements made with
// document.createElement: never innerHTML, never eval.
"use strict";

(function () {
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function schemaName(schema) {
    if (!schema) return "";
    if (schema.$ref) return String(schema.$ref).split("/").pop();
    if (schema.type === "array") return schemaName(schema.items) + "[]";
    if (schema.anyOf) return schema.anyOf.map(schemaName).join(" | ");
    return schema.type || "";
  }

  function operation(path, method, op) {
    const section = el("section", null, "operation");
    const title = el("h3");
    title.append(el("span", method.toUpperCase(), "badge method " + method), " ", el("code", path));
    section.appendChild(title);
    if (op.summary) section.appendChild(el("p", op.summary));
    if (op.description && op.description !== op.summary) section.appendChild(el("p", op.description, "muted pre"));
    const params = op.parameters || [];
    if (params.length) {
      const table = el("table");
      const head = el("tr");
      head.append(el("th", "Parameter"), el("th", "In"), el("th", "Type"), el("th", "Description"));
      table.appendChild(head);
      for (const p of params) {
        const row = el("tr");
        row.append(
          el("td", p.name + (p.required ? " *" : "")),
          el("td", p.in),
          el("td", schemaName(p.schema)),
          el("td", p.description || (p.schema && p.schema.description) || ""),
        );
        table.appendChild(row);
      }
      section.appendChild(table);
    }
    if (op.requestBody && op.requestBody.content) {
      const body = op.requestBody.content["application/json"];
      if (body) section.appendChild(el("p", "Body: " + schemaName(body.schema), "muted"));
    }
    const answers = el("ul", null, "answers");
    for (const [code, answer] of Object.entries(op.responses || {})) {
      answers.appendChild(el("li", code + " " + (answer.description || "")));
    }
    section.appendChild(answers);
    return section;
  }

  async function start() {
    const target = document.getElementById("operations");
    const intro = document.getElementById("docs-intro");
    try {
      const response = await fetch("/api/v1/openapi.json", { credentials: "omit" });
      const doc = await response.json();
      intro.textContent = (doc.info && doc.info.description) || "";
      for (const [path, item] of Object.entries(doc.paths || {})) {
        for (const [method, op] of Object.entries(item)) {
          target.appendChild(operation(path, method, op));
        }
      }
    } catch (error) {
      intro.textContent = "Could not load the OpenAPI document: " + String(error);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
