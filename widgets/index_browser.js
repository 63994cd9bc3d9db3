// IndexBrowser front end (anywidget ES module): filter controls, the visible page of the table, the selected
// dataset's key image, viewer and download buttons. Python (etdb_explore/widgets/index_browser.py) does the
// filtering, sorting and paging: this module sends the state (filters, sort, page, page_size, selected) and draws
// what comes back (facets, table, image). Only the visible page ever reaches the page.
//
// For tests and benchmarks, the root element carries data-table-version (bumped each time the table is drawn),
// data-update-ms (the last control change → table drawn, in ms) and the image canvas data-txid (set once the key
// image of that dataset is painted).

const TEXT_DELAY_MS = 250; // typing pauses this long before the text filter is sent
const RANGE_STEP = { tilt_range: 1, defocus: 0.1 };
const RANGE_LABEL = { tilt_range: "Tilt covers (°)", defocus: "Defocus (µm)" };
const KINDS = [["reconstructions", "reconstructions"], ["tilt-series", "tilt-series"], ["images", "images"],
  ["", "all files"]];

function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function nameFacet(key, title, filters, send) {
  const list = h("div", { class: "ib-facet-list" });
  const box = h("fieldset", { class: "ib-facet", dataset: { facet: key } }, h("legend", {}, title), list);
  function draw(rows) {
    const chosen = new Set(filters()[key] || []);
    list.replaceChildren(...rows.map(([name, count]) => {
      const input = h("input", { type: "checkbox", value: name, checked: chosen.has(name) });
      input.addEventListener("change", () => {
        const now = new Set(filters()[key] || []);
        if (input.checked) now.add(name); else now.delete(name);
        send({ [key]: [...now] });
      });
      return h("label", { class: "ib-facet-item", title: name }, input, h("span", {}, name),
        h("span", { class: "ib-count" }, String(count)));
    }));
  }
  return { box, draw };
}

function rangeFilter(key, filters, send, limits) {
  const [min, max] = limits[key] || [null, null];
  const usable = min !== null && max !== null && max > min;
  const step = RANGE_STEP[key];
  const on = h("input", { type: "checkbox", disabled: !usable });
  const lo = h("input", { type: "range", min: min ?? 0, max: max ?? 0, step, disabled: true, dataset: { end: "lo" } });
  const hi = h("input", { type: "range", min: min ?? 0, max: max ?? 0, step, disabled: true, dataset: { end: "hi" } });
  const shown = h("span", { class: "ib-range-value" });
  const box = h("fieldset", { class: "ib-range", dataset: { range: key } },
    h("legend", {}, h("label", {}, on, " " + RANGE_LABEL[key])), lo, hi, shown);
  lo.value = min ?? 0;
  hi.value = max ?? 0;
  const value = () => [Number(lo.value), Number(hi.value)].sort((a, b) => a - b);
  function sync() {
    const current = filters()[key];
    on.checked = Array.isArray(current);
    lo.disabled = hi.disabled = !on.checked;
    if (on.checked) { lo.value = current[0] ?? min; hi.value = current[1] ?? max; }
    shown.textContent = on.checked ? value().join(" … ") : "any";
  }
  on.addEventListener("change", () => {
    if (on.checked && key === "tilt_range") { lo.value = Math.max(min, -60); hi.value = Math.min(max, 60); }
    if (on.checked && key === "defocus") { lo.value = min; hi.value = max; }
    send({ [key]: on.checked ? value() : null });
  });
  for (const end of [lo, hi]) {
    end.addEventListener("input", () => { shown.textContent = value().join(" … "); });
    end.addEventListener("change", () => send({ [key]: value() }));
  }
  return { box, sync };
}

function dateFilter(filters, send, limits) {
  const [first, last] = limits.date || [null, null];
  const from = h("input", { type: "date", min: first ?? "", max: last ?? "", dataset: { end: "from" } });
  const to = h("input", { type: "date", min: first ?? "", max: last ?? "", dataset: { end: "to" } });
  const box = h("fieldset", { class: "ib-range", dataset: { range: "date" } }, h("legend", {}, "Date"), from, to);
  const changed = () => send({ date: from.value || to.value ? [from.value || null, to.value || null] : null });
  from.addEventListener("change", changed);
  to.addEventListener("change", changed);
  function sync() {
    const [a, b] = filters().date || [null, null];
    from.value = a ?? ""; to.value = b ?? "";
  }
  return { box, sync };
}

function render({ model, el, host, signal }) {
  el.classList.add("etdb-index-browser");
  el.dataset.tableVersion = "0";
  let pendingSince = null; // when a control last asked for a new table
  const filters = () => model.get("filters") || {};

  function save(changes, redraws = true) {
    if (redraws) pendingSince = performance.now();
    for (const [key, value] of Object.entries(changes)) model.set(key, value);
    model.save_changes();
  }
  function send(change) {
    save({ filters: { ...filters(), ...change } });
  }

  // ---- filters -------------------------------------------------------------------------------------------------
  const limits = model.get("limits") || {};
  const species = nameFacet("species", "Species", filters, send);
  const scopes = nameFacet("microscope", "Microscope", filters, send);
  const ranges = Object.keys(RANGE_LABEL).map((key) => rangeFilter(key, filters, send, limits));
  const dates = dateFilter(filters, send, limits);
  const text = h("input", { type: "search", class: "ib-text", placeholder: "title, notes, species, strain, id" });
  let typing = null;
  text.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => send({ text: text.value }), TEXT_DELAY_MS);
  });
  text.addEventListener("keydown", (event) => { // Enter sends at once
    if (event.key === "Enter") { clearTimeout(typing); send({ text: text.value }); }
  });
  const reset = h("button", { class: "ib-reset", onclick: () => save({ filters: {} }) }, "Clear filters");
  const side = h("div", { class: "ib-filters" },
    h("fieldset", { class: "ib-search" }, h("legend", {}, "Text"), text),
    species.box, scopes.box, ...ranges.map((r) => r.box), dates.box, reset);

  // ---- table -----------------------------------------------------------------------------------------------------
  const summary = h("div", { class: "ib-summary" });
  const thead = h("thead");
  const tbody = h("tbody");
  const table = h("table", { class: "ib-table" }, thead, tbody);
  const pageText = h("span", { class: "ib-page" });
  const pageSize = h("select", { class: "ib-page-size" },
    ...[10, 25, 50, 100].map((n) => h("option", { value: String(n) }, `${n} rows`)));
  pageSize.addEventListener("change", () => save({ page_size: Number(pageSize.value) }));
  const go = (delta) => () => {
    const t = model.get("table");
    const page = delta === "first" ? 0 : delta === "last" ? t.pages - 1 : t.page + delta;
    if (page !== t.page && page >= 0 && page < t.pages) save({ page });
  };
  const pager = h("div", { class: "ib-pager" },
    h("button", { class: "ib-first", onclick: go("first") }, "«"), h("button", { class: "ib-prev", onclick: go(-1) }, "‹"),
    pageText, h("button", { class: "ib-next", onclick: go(1) }, "›"), h("button", { class: "ib-last", onclick: go("last") }, "»"),
    pageSize);

  function drawTable() {
    const t = model.get("table");
    if (!t || !t.columns) return;
    const sort = t.sort || {};
    thead.replaceChildren(h("tr", {}, ...t.columns.map(([key, label]) => {
      const mark = sort.column === key ? (sort.ascending ? " ▲" : " ▼") : "";
      return h("th", {
        dataset: { column: key }, title: "sort",
        onclick: () => save({ sort: { column: key, ascending: sort.column === key ? !sort.ascending : true } }),
      }, label + mark);
    })));
    const selected = model.get("selected");
    tbody.replaceChildren(...t.rows.map(([txid, ...cells]) => h("tr", {
      dataset: { txid }, class: txid === selected ? "ib-selected" : "",
      onclick: () => save({ selected: txid }, false),
    }, ...cells.map((cell) => h("td", {}, cell)))));
    const total = (model.get("limits") || {}).datasets ?? "?";
    summary.textContent = `${t.total} of ${total} datasets · ${formatBytes(t.bytes)}`;
    pageText.textContent = ` page ${t.page + 1} of ${t.pages} `;
    pageSize.value = String(t.page_size);
    el.dataset.tableVersion = String(Number(el.dataset.tableVersion) + 1);
    if (pendingSince !== null) {
      el.dataset.updateMs = (performance.now() - pendingSince).toFixed(1);
      pendingSince = null;
    }
  }

  function markSelected() {
    const selected = model.get("selected");
    for (const row of tbody.rows) row.classList.toggle("ib-selected", row.dataset.txid === selected);
  }

  function drawFilters() {
    const f = model.get("facets") || {};
    species.draw(f.species || []);
    scopes.draw(f.microscope || []);
    for (const r of ranges) r.sync();
    dates.sync();
    if (document.activeElement !== text) text.value = filters().text || "";
  }

  // ---- key image, viewer and download ----------------------------------------------------------------------------
  const canvas = h("canvas", { class: "ib-image", width: 0, height: 0 });
  const caption = h("div", { class: "ib-image-caption" });
  const viewTomogram = h("button", { class: "ib-view", dataset: { what: "tomogram" } }, "View tomogram");
  const viewTilts = h("button", { class: "ib-view", dataset: { what: "tiltseries" } }, "View tilt-series");
  for (const b of [viewTomogram, viewTilts]) {
    b.addEventListener("click", () => model.send({ action: "view", what: b.dataset.what }));
  }
  const kinds = h("select", { class: "ib-kinds" }, ...KINDS.map(([v, label]) => h("option", { value: v }, label)));
  const dest = h("input", { type: "text", class: "ib-dest", value: "etdb-download", title: "destination folder" });
  const onlySelected = h("input", { type: "checkbox", class: "ib-only-selected" });
  const download = h("button", { class: "ib-download" }, "Download");
  const cancel = h("button", { class: "ib-cancel", disabled: true }, "Cancel");
  download.addEventListener("click", () => model.send({
    action: "download", kinds: kinds.value || null, dest: dest.value, only_selected: onlySelected.checked,
  }));
  cancel.addEventListener("click", () => model.send({ action: "cancel" }));
  const bytesBar = h("progress", { class: "ib-progress", max: 1, value: 0 });
  const progressText = h("span", { class: "ib-progress-text" });
  const message = h("div", { class: "ib-message" });
  const error = h("div", { class: "ib-error", role: "alert" });
  const panel = h("div", { class: "ib-panel" }, canvas, caption,
    h("div", { class: "ib-buttons" }, viewTomogram, viewTilts),
    h("div", { class: "ib-buttons" }, kinds, dest),
    h("div", { class: "ib-buttons" }, h("label", {}, onlySelected, " only the selected dataset")),
    h("div", { class: "ib-buttons" }, download, cancel),
    h("div", { class: "ib-task" }, bytesBar, progressText), message, error);
  const viewerBox = h("div", { class: "ib-viewer" });

  let painted = 0; // newest image request: an older decode finishing late never overwrites it
  async function drawImage() {
    const info = model.get("image_info") || {};
    const ticket = ++painted;
    canvas.removeAttribute("data-txid");
    caption.textContent = info.error ? "" : info.loading ? "loading key image…" : info.path ?? "";
    caption.classList.toggle("ib-error", Boolean(info.error));
    if (info.error) caption.textContent = info.error;
    const data = model.get("image");
    if (!info.mime || !data || !data.byteLength) {
      canvas.width = canvas.height = 0;
      return;
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let bitmap;
    try {
      bitmap = await createImageBitmap(new Blob([bytes], { type: info.mime }));
    } catch (exc) {
      if (ticket === painted) { caption.textContent = `cannot decode ${info.path}: ${exc}`; caption.classList.add("ib-error"); }
      return;
    }
    if (ticket !== painted) return;
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext("2d").drawImage(bitmap, 0, 0);
    bitmap.close();
    canvas.dataset.txid = info.txid;
  }

  function drawTask() {
    const task = model.get("task") || {};
    const running = Boolean(task.name);
    download.disabled = running;
    cancel.disabled = !running;
    const [done, total] = task.bytes || [0, 0];
    const [files, allFiles] = task.files || [0, 0];
    bytesBar.max = Math.max(total, 1);
    bytesBar.value = done;
    bytesBar.hidden = !running;
    progressText.textContent = running ? `${formatBytes(done)} of ${formatBytes(total)}, ${files}/${allFiles} files` : "";
  }

  function drawMessages() {
    message.textContent = model.get("message") || "";
    error.textContent = model.get("error") || "";
    const hasSelection = Boolean(model.get("selected"));
    viewTomogram.disabled = viewTilts.disabled = !hasSelection;
  }

  let viewerToken = 0;
  async function drawViewer() {
    const ref = model.get("viewer");
    const token = ++viewerToken;
    viewerBox.replaceChildren();
    if (!ref || !host) return;
    const child = await host.getWidget(ref);
    if (token !== viewerToken) return;
    const slot = h("div", { class: "ib-viewer-slot" });
    viewerBox.append(slot);
    await child.render({ el: slot, signal });
  }

  el.replaceChildren(h("div", { class: "ib-layout" }, side,
    h("div", { class: "ib-main" }, summary, table, pager), panel), viewerBox);

  const handlers = {
    "change:table": drawTable, "change:facets": drawFilters, "change:filters": drawFilters,
    "change:selected": () => { markSelected(); drawMessages(); }, "change:image": drawImage,
    "change:image_info": drawImage, "change:task": drawTask, "change:message": drawMessages,
    "change:error": drawMessages, "change:viewer": drawViewer,
  };
  for (const [event, handler] of Object.entries(handlers)) model.on(event, handler);
  drawFilters();
  drawTable();
  drawTask();
  drawMessages();
  drawImage();
  drawViewer();
  return () => {
    clearTimeout(typing);
    for (const [event, handler] of Object.entries(handlers)) model.off(event, handler);
  };
}

function formatBytes(n) {
  if (!n) return "0 B";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

export default { render };
