// SliceViewer and TiltSeriesViewer front end (anywidget ES module, shared by both): a canvas painted from the uint8
// frames Python sends as binary buffers, a slider (in degrees for a tilt-series), arrow keys, play, contrast,
// binning and colormap controls (the colours come from Python as a 256-entry table, `lut`), zoom (wheel) and pan
// (drag), where the bytes came from (unverified ones marked), and a readout of the section, the voxel size and the
// value under the cursor (asked of Python, which holds the raw section).
//
// Python (etdb_explore/widgets/slice_viewer.py) reads and renders; this module asks (sets the plane, its position
// and the settings) and paints. Frames arrive as widget messages with a binary buffer, keyed
// "generation:plane:position"; they are kept first in, first out up to info.front_cache_bytes (Python keeps the same
// account, so it never sends a frame this cache still holds), and a frame held is painted as soon as the slider
// reaches it, without a round trip to the kernel.
// For tests and benchmarks the root element carries data-z (the xy section painted last), data-frame-version (bumped
// on each paint), data-plane and data-position (of the frame painted last), data-error (the error of the wanted
// frame, if any), data-paint-ms (the last slider move or key press → frame painted, in ms) and data-cached (how many
// frames the cache holds).

const PLAY_INTERVAL_MS = 100; // play shows at most 10 sections a second (and never runs ahead of the data)
const PROBE_INTERVAL_MS = 60; // the value under the cursor is asked for at most this often
const FIT_PX = 512; // the longer side of the picture at zoom 1, in CSS pixels
const BINNINGS = [[0, "auto"], [1, "1×"], [2, "2×"], [4, "4×"], [8, "8×"]];

function el_(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

// The colormap's 256 colours (768 RGB bytes from Python) as one RGBA word a level, for painting a frame.
function colours(lut) {
  const rgb = new Uint8Array(lut.buffer, lut.byteOffset, lut.byteLength);
  const words = new Uint32Array(256);
  const bytes = new Uint8Array(words.buffer);
  for (let i = 0; i < 256; i++) bytes.set([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 255], 4 * i);
  return words;
}

function fmt(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "string") return value;
  return Math.abs(value) >= 1e4 || (value !== 0 && Math.abs(value) < 1e-2) ? value.toExponential(3)
    : String(Math.round(value * 1000) / 1000);
}

function render({ model, el }) {
  const info = model.get("info");
  const [nz, ny, nx] = info.shape;
  const [vx, vy, vz] = info.voxel_size;
  const angles = info.kind === "tiltseries" ? info.angles : null;

  const root = el_("div", { class: "etdb-slice-viewer", tabindex: "0" });
  const title = el_("div", { class: "sv-title" }, `${info.name} · ${nz}×${ny}×${nx} ${info.dtype} · ${vx.toFixed(2)} Å/px`);
  const source = info.read_from; // where the bytes came from (Volume.metadata["read_from"])
  const origin = el_("div", { class: "sv-origin" + (source && source.unverified ? " sv-unverified" : "") },
    source ? `${source.unverified ? "⚠ " : ""}bytes ${source.content ?? "of unknown kind"}` +
      (source.home ? ` from ${source.home}` : "") + (source.where ? ` (${source.where})` : "") : "");
  const canvas = el_("canvas", { class: "sv-canvas" });
  const viewport = el_("div", { class: "sv-viewport" }, canvas);
  const error = el_("div", { class: "sv-error" });
  const readout = el_("div", { class: "sv-readout" });
  const where = el_("span", { class: "sv-where" });
  const value = el_("span", { class: "sv-value" });
  readout.append(where, value);

  const slider = el_("input", { class: "sv-slider", type: "range", min: "0", max: String(nz - 1), step: "1" });
  const prev = el_("button", { class: "sv-prev", title: "previous (←)" }, "◀");
  const next = el_("button", { class: "sv-next", title: "next (→)" }, "▶");
  const play = el_("button", { class: "sv-play", title: "play / pause" }, "▶▶");
  const position = el_("span", { class: "sv-position" });
  const steps = el_("div", { class: "sv-steps" }, prev, slider, next, play, position);

  const contrast = el_("select", { class: "sv-contrast" },
    el_("option", { value: "auto" }, "auto contrast"), el_("option", { value: "manual" }, "manual"));
  const low = el_("input", { class: "sv-low", type: "number", step: "any", title: "low (percentile or value)" });
  const high = el_("input", { class: "sv-high", type: "number", step: "any", title: "high (percentile or value)" });
  const binning = el_("select", { class: "sv-binning", title: "binning" },
    ...BINNINGS.map(([v, label]) => el_("option", { value: String(v) }, `bin ${label}`)));
  const colormap = el_("select", { class: "sv-colormap", title: "colormap" },
    ...info.colormaps.map((name) => el_("option", { value: name }, name)));
  const reset = el_("button", { class: "sv-reset", title: "fit the picture" }, "fit");
  const plane = el_("select", { class: "sv-plane", title: "plane" },
    ...["xy", "xz", "yz"].map((name) => el_("option", { value: name }, `${name} plane`)));
  const tools = el_("div", { class: "sv-tools" }, plane, contrast, low, high, binning, colormap, reset);

  root.append(title, viewport, error, steps, readout, origin, tools);
  el.replaceChildren(root);

  let version = 0;
  let asked = null; // performance.now() of the last move by the user, for data-paint-ms
  const frames = new Map(); // key → {info, bytes}, oldest first
  let cachedBytes = 0;
  let painted = null; // the frame on the canvas
  let map = colours(model.get("lut")); // frame level → RGBA word
  let playing = null;
  let zoom = 1, panX = 0, panY = 0;

  // each plane: the axis its slider moves along, its width and height in pixels and in Å (true proportions)
  const PLANES = {
    xy: { axis: "z", n: nz, px: [nx, ny], size: [nx * vx, ny * vy] },
    xz: { axis: "y", n: ny, px: [nx, nz], size: [nx * vx, nz * vz] },
    yz: { axis: "x", n: nx, px: [ny, nz], size: [ny * vy, nz * vz] },
  };
  const current = () => PLANES[model.get("plane")];
  const at = () => model.get(current().axis);

  function label(p, plane = model.get("plane")) {
    if (plane !== "xy") return `${PLANES[plane].axis} ${p}/${PLANES[plane].n - 1} (${plane} plane)`;
    if (angles) return `${angles[p] >= 0 ? "+" : ""}${angles[p].toFixed(1)}° (image ${p + 1}/${nz}; angles from ${info.angle_source})`;
    if (info.kind === "tiltseries") return `image ${p + 1}/${nz} (angles unknown)`;
    return `z ${p}/${nz - 1}`;
  }

  function goto(p) {
    p = Math.max(0, Math.min(current().n - 1, p));
    if (p === at()) return;
    asked = performance.now();
    model.set(current().axis, p);
    model.save_changes();
  }

  function drawControls() {
    const p = at();
    const [done, total] = model.get("progress");
    slider.max = String(current().n - 1);
    slider.value = String(p);
    steps.classList.toggle("sv-single", current().n < 2); // one image (nz = 1): nothing to step through
    plane.value = model.get("plane");
    position.textContent = label(p) + (model.get("loading") >= 0 && total > 0 ? ` · read ${done}/${total} sections` : "");
    contrast.value = model.get("contrast");
    const manual = model.get("contrast") === "manual";
    const [a, b] = manual ? model.get("window") : model.get("percentiles");
    low.value = String(a);
    high.value = String(b);
    low.title = manual ? "lowest value shown black" : "low percentile";
    high.title = manual ? "highest value shown white" : "high percentile";
    binning.value = String(model.get("binning"));
    const cmap = model.get("colormap");
    if (![...colormap.options].some((o) => o.value === cmap)) colormap.append(el_("option", { value: cmap }, cmap));
    colormap.value = cmap;
    root.classList.toggle("sv-loading", model.get("loading") >= 0);
  }

  function layout() {
    if (!painted) return;
    // physical size of the section (Å), so anisotropic pixels and very thin images keep their true shape
    const [w, h] = PLANES[painted.info.plane].size;
    const scale = (FIT_PX / Math.max(w, h)) * zoom;
    canvas.style.width = `${Math.max(1, w * scale)}px`;
    canvas.style.height = `${Math.max(1, h * scale)}px`;
    canvas.style.transform = `translate(${panX}px, ${panY}px)`;
  }

  function wantedKey() {
    return `${model.get("generation")}:${model.get("plane")}:${at()}`;
  }

  function keep(frame, data) {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.length !== frame.width * frame.height) return;
    if (frames.has(frame.key)) {
      cachedBytes -= frames.get(frame.key).bytes.length;
      frames.delete(frame.key);
    }
    frames.set(frame.key, { info: frame, bytes });
    cachedBytes += bytes.length;
    for (const [key, old] of frames) { // the same order and bound as Python's account of what it sent
      if (cachedBytes <= info.front_cache_bytes) break;
      frames.delete(key);
      cachedBytes -= old.bytes.length;
    }
    root.dataset.cached = String(frames.size);
  }

  function show() {
    const key = wantedKey();
    const wanted = model.get("frame_info");
    const failed = wanted.key === key && wanted.error ? wanted.error : "";
    root.dataset.error = failed;
    const what = wanted.plane === "xy" ? "section" : `${wanted.plane} plane at ${PLANES[wanted.plane]?.axis}`;
    error.textContent = failed ? `${what} ${wanted.position}: ${failed}` : "";
    const entry = frames.get(key);
    root.classList.toggle("sv-waiting", !entry && !failed);
    if (entry) paint(entry);
  }

  function paint(entry) {
    const { info: frame, bytes } = entry;
    canvas.width = frame.width;
    canvas.height = frame.height;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(frame.width, frame.height);
    const px = new Uint32Array(image.data.buffer); // one write a pixel: the level's RGBA word
    for (let i = 0; i < bytes.length; i++) px[i] = map[bytes[i]];
    ctx.putImageData(image, 0, 0);
    painted = entry;
    layout();
    root.dataset.plane = frame.plane;
    root.dataset.position = String(frame.position);
    if (frame.plane === "xy") root.dataset.z = String(frame.z);
    else delete root.dataset.z;
    root.dataset.frameVersion = String(++version);
    if (asked !== null) {
      root.dataset.paintMs = String(Math.round((performance.now() - asked) * 10) / 10);
      asked = null;
    }
    where.textContent = `${label(frame.position, frame.plane)} · ${vx.toFixed(2)} × ${vy.toFixed(2)} × ${vz.toFixed(2)} Å` +
      ` · window ${fmt(frame.lo)}…${fmt(frame.hi)}` + (frame.bin[0] * frame.bin[1] > 1 ? ` · binned ${frame.bin[1]}×${frame.bin[0]}` : "");
    if (playing !== null) {
      const wait = Math.max(0, PLAY_INTERVAL_MS - (performance.now() - playing));
      setTimeout(() => { if (playing !== null) { playing = performance.now(); advance(); } }, wait);
    }
  }

  function advance() {
    model.set(current().axis, at() + 1 >= current().n ? 0 : at() + 1);
    model.save_changes();
  }

  function togglePlay() {
    if (playing !== null || current().n < 2) {
      playing = null;
      play.textContent = "▶▶";
      return;
    }
    playing = performance.now();
    play.textContent = "❚❚";
    advance();
  }

  // ---- input ------------------------------------------------------------------------------------------------------
  slider.addEventListener("input", () => goto(Number(slider.value)));
  prev.addEventListener("click", () => goto(at() - 1));
  next.addEventListener("click", () => goto(at() + 1));
  play.addEventListener("click", togglePlay);
  root.addEventListener("keydown", (event) => {
    const step = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -10, PageUp: 10 }[event.key];
    if (step !== undefined) goto(at() + step);
    else if (event.key === "Home") goto(0);
    else if (event.key === "End") goto(current().n - 1);
    else if (event.key === " ") togglePlay();
    else return;
    event.preventDefault();
    event.stopPropagation(); // JupyterLab would otherwise move between cells
  });
  contrast.addEventListener("change", () => {
    if (contrast.value === "manual") {
      if (painted) model.set("window", [painted.info.lo, painted.info.hi]);
    }
    model.set("contrast", contrast.value);
    model.save_changes();
  });
  function sendLimits() {
    const pair = [Number(low.value), Number(high.value)];
    if (!pair.every(Number.isFinite)) return;
    model.set(model.get("contrast") === "manual" ? "window" : "percentiles", pair);
    model.save_changes();
  }
  low.addEventListener("change", sendLimits);
  high.addEventListener("change", sendLimits);
  binning.addEventListener("change", () => { model.set("binning", Number(binning.value)); model.save_changes(); });
  plane.addEventListener("change", () => { model.set("plane", plane.value); model.save_changes(); });
  colormap.addEventListener("change", () => { model.set("colormap", colormap.value); model.save_changes(); });
  reset.addEventListener("click", () => { zoom = 1; panX = 0; panY = 0; layout(); });

  viewport.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoom = Math.max(0.25, Math.min(32, zoom * (event.deltaY < 0 ? 1.25 : 0.8)));
    layout();
  }, { passive: false });
  let drag = null;
  viewport.addEventListener("pointerdown", (event) => { drag = [event.clientX - panX, event.clientY - panY]; });
  window.addEventListener("pointerup", () => { drag = null; });
  let probeAt = 0;
  viewport.addEventListener("pointermove", (event) => {
    if (drag) { panX = event.clientX - drag[0]; panY = event.clientY - drag[1]; layout(); return; }
    const rect = canvas.getBoundingClientRect();
    if (!rect.width || performance.now() - probeAt < PROBE_INTERVAL_MS) return;
    probeAt = performance.now();
    const [w, h] = PLANES[painted.info.plane].px;
    const x = Math.floor(((event.clientX - rect.left) / rect.width) * w);
    const y = Math.floor(((event.clientY - rect.top) / rect.height) * h);
    if (painted) model.send({ action: "probe", key: painted.info.key, x, y });
  });
  function onMessage(msg, buffers) {
    if (msg && msg.frame && buffers && buffers.length === 1) {
      keep(msg.frame, buffers[0]);
      if (msg.frame.key === wantedKey()) show();
    } else if (msg && msg.probe) {
      const p = msg.probe;
      value.textContent = p.value === null ? "" : ` · (${p.x}, ${p.y}) = ${fmt(p.value)}`;
      root.dataset.probe = JSON.stringify(p);
    }
  }

  const handlers = {
    "change:z": () => { drawControls(); show(); }, "change:y": () => { drawControls(); show(); },
    "change:x": () => { drawControls(); show(); }, "change:plane": () => { drawControls(); show(); },
    "change:progress": drawControls, "change:generation": show, "change:frame_info": show,
    "change:contrast": drawControls, "change:percentiles": drawControls, "change:window": drawControls,
    "change:binning": drawControls, "change:loading": drawControls, "msg:custom": onMessage,
    "change:colormap": drawControls, "change:lut": () => { map = colours(model.get("lut")); if (painted) paint(painted); },
  };
  for (const [event, handler] of Object.entries(handlers)) model.on(event, handler);
  drawControls();
  model.send({ action: "hello" }); // frames come afresh to a new view
  show();
  return () => {
    playing = null;
    for (const [event, handler] of Object.entries(handlers)) model.off(event, handler);
  };
}

export default { render };
