/* vidsearch web page: search, play the moment at the right second, match an uploaded clip.
 * Plain JS, no framework; every piece of data is inserted with textContent (never innerHTML).
 * A server started with --token: open the page as /#token=TOKEN (or answer the prompt); the token
 * is kept in this tab's sessionStorage and sent as "Authorization: Bearer"; the fragment is removed
 * from the address bar at once. Videos and thumbnails play from the signed URLs the API returns. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  const els = {
    searchForm: $("search-form"), q: $("q"), preset: $("preset"), k: $("k"),
    searchButton: $("search-button"),
    clipForm: $("clip-form"), clip: $("clip"), clipButton: $("clip-button"),
    error: $("error"), status: $("status"), weaker: $("weaker"),
    results: $("results"), resultsTitle: $("results-title"),
    captionsPanel: $("captions-panel"), captions: $("captions"),
    playerPanel: $("player-panel"), player: $("player"),
    timeline: $("timeline"), span: $("timeline-span"), head: $("timeline-head"),
    nowPlaying: $("now-playing"),
  };

  /** Seconds as m:ss.s (h:mm:ss.s past an hour): 4.2 -> "0:04.2". */
  function fmt(t) {
    if (!Number.isFinite(t) || t < 0) t = 0;
    const tenths = Math.round(t * 10);
    const h = Math.floor(tenths / 36000);
    const m = Math.floor((tenths % 36000) / 600);
    const s = ((tenths % 600) / 10).toFixed(1).padStart(4, "0");
    return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  // ---- the access token (servers started with --token) -----------------------------------

  const TOKEN_KEY = "vidsearch-token";

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (e) {
      return "";
    }
  }

  function storeToken(token) {
    try {
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage off: the token lasts until the page reloads */ }
    memoryToken = token;
  }

  let memoryToken = storedToken();

  (function tokenFromFragment() {
    const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
    if (!hash.has("token")) return;
    storeToken(hash.get("token").trim());
    history.replaceState(null, "", location.pathname + location.search); // never left in the address bar
  })();

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function showError(message) {
    els.error.textContent = message;
    els.error.hidden = false;
  }

  function clearError() {
    els.error.textContent = "";
    els.error.hidden = true;
  }

  function setStatus(text) {
    els.status.textContent = text || "";
  }

  function setBusy(busy) {
    els.searchButton.disabled = busy;
    els.clipButton.disabled = busy;
    document.body.classList.toggle("busy", busy);
  }

  async function send(url, options) {
    const headers = new Headers((options && options.headers) || {});
    if (memoryToken) headers.set("Authorization", `Bearer ${memoryToken}`);
    try {
      return await fetch(url, { ...options, headers });
    } catch (e) {
      throw new Error("cannot reach the vidsearch server");
    }
  }

  /** fetch + JSON; throws an Error carrying the API's one-line message on a non-2xx answer.
   * A 401 asks for the access token once and tries again. */
  async function api(url, options) {
    let res = await send(url, options);
    if (res.status === 401) {
      const token = window.prompt("This vidsearch server asks for its access token:", "");
      if (token && token.trim()) {
        storeToken(token.trim());
        res = await send(url, options);
      }
      if (res.status === 401) storeToken("");
    }
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (!res.ok) {
      const msg = body && typeof body.error === "string" ? body.error : `request failed (HTTP ${res.status})`;
      throw new Error(msg);
    }
    if (body === null) throw new Error("the server sent an unreadable answer");
    return body;
  }

  function options() {
    let k = parseInt(els.k.value, 10);
    if (!Number.isFinite(k)) k = 10;
    return { k: String(k), preset: els.preset.value || "short-video" };
  }

  // ---- result cards ----------------------------------------------------------------------

  function channelsText(channels) {
    return Object.entries(channels || {})
      .filter(([, v]) => typeof v === "number" && v !== 0)
      .sort((a, b) => b[1] - a[1])
      .map(([name, v]) => `${name} ${v.toFixed(2)}`)
      .join(" · ");
  }

  function card(m) {
    const name = String(m.video);
    const node = el("article", "card");
    node.tabIndex = 0;
    node.setAttribute("role", "button");
    node.dataset.jump = String(m.jump);
    node.dataset.videoId = String(m.video_id);
    node.dataset.segmentId = String(m.segment_id);
    node.dataset.start = String(m.start);
    node.dataset.end = String(m.end);
    node.dataset.video = name;
    if (m.match) node.dataset.match = m.match;
    node.setAttribute("aria-label", `play ${name} from ${fmt(m.jump)}`);

    const thumb = el("div", "thumb");
    const img = el("img");
    img.loading = "lazy";
    img.alt = `keyframe of ${name} at ${fmt(m.start)}`;
    if (m.thumbnail) {
      img.src = m.thumbnail;
    } else {
      thumb.classList.add("no-thumb");
    }
    img.addEventListener("error", () => thumb.classList.add("no-thumb"), { once: true });
    thumb.appendChild(img);
    thumb.appendChild(el("span", "span-badge", `${fmt(m.start)}–${fmt(m.end)}`));
    if (m.match) thumb.appendChild(el("span", `match-badge match-${m.match}`, m.match));
    node.appendChild(thumb);

    const body = el("div", "card-body");
    const head = el("div", "card-head");
    head.appendChild(el("span", "name", name)).title = name;
    if (m.confidence) head.appendChild(el("span", `confidence confidence-${m.confidence}`, m.confidence)).title = "confidence";
    head.appendChild(el("span", "score", Number(m.score).toFixed(3))).title = "score";
    body.appendChild(head);
    body.appendChild(el("div", "time", `${fmt(m.start)}–${fmt(m.end)} · jump to ${fmt(m.jump)}`));
    if (m.snippet) body.appendChild(el("p", "snippet", m.snippet));
    if (Array.isArray(m.tags) && m.tags.length) {
      const tags = el("ul", "tags");
      for (const t of m.tags.slice(0, 8)) tags.appendChild(el("li", null, t));
      body.appendChild(tags);
    }
    const ch = channelsText(m.channels);
    if (ch) body.appendChild(el("div", "channels", ch));
    node.appendChild(body);

    const activate = () => {
      for (const c of els.results.querySelectorAll(".card.active")) c.classList.remove("active");
      node.classList.add("active");
      play(m);
    };
    node.addEventListener("click", activate);
    node.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        activate();
      }
    });
    return node;
  }

  function showMoments(title, moments) {
    els.results.replaceChildren(...moments.map(card));
    els.resultsTitle.textContent = title;
    els.resultsTitle.hidden = false;
  }

  function clearResults() {
    els.results.replaceChildren();
    els.resultsTitle.hidden = true;
    els.captions.replaceChildren();
    els.captionsPanel.hidden = true;
  }

  // ---- the player ------------------------------------------------------------------------

  let playToken = 0;
  let current = null; // the moment being played

  function play(m) {
    const token = ++playToken;
    const player = els.player;
    const src = m.stream;
    current = m;
    window.vidsearchLastJump = m.jump;
    els.playerPanel.classList.remove("idle");
    els.nowPlaying.textContent = `loading ${m.video}…`;

    const seek = () => {
      if (token !== playToken) return; // a later click won
      player.currentTime = m.jump;
      drawTimeline();
      els.nowPlaying.textContent =
        `playing ${m.video} from ${fmt(m.jump)} (moment ${fmt(m.start)}–${fmt(m.end)})`;
      const p = player.play();
      if (p && typeof p.catch === "function") p.catch(() => { /* autoplay blocked: the user presses play */ });
    };

    if (player.getAttribute("src") === src && player.readyState >= 1) {
      seek();
    } else {
      player.addEventListener("loadedmetadata", seek, { once: true });
      player.src = src;
    }
    if (window.matchMedia("(max-width: 900px)").matches) {
      els.playerPanel.scrollIntoView({ behavior: "smooth", block: "start" });
    }
  }

  function drawTimeline() {
    const d = els.player.duration;
    if (!current || !Number.isFinite(d) || d <= 0) {
      els.timeline.hidden = true;
      return;
    }
    const pct = (t) => `${Math.max(0, Math.min(100, (t / d) * 100))}%`;
    els.span.style.left = pct(current.start);
    els.span.style.width = `${Math.max(0.5, ((current.end - current.start) / d) * 100)}%`;
    els.head.style.left = pct(els.player.currentTime);
    els.timeline.title = `moment ${fmt(current.start)}–${fmt(current.end)} of ${fmt(d)}`;
    els.timeline.hidden = false;
  }

  els.player.addEventListener("timeupdate", () => {
    if (current && Number.isFinite(els.player.duration)) {
      els.head.style.left = `${Math.min(100, (els.player.currentTime / els.player.duration) * 100)}%`;
    }
  });
  els.player.addEventListener("error", () => {
    if (current) showError(`cannot play ${current.video} in this browser`);
  });
  els.weaker.addEventListener("click", () => search(els.q.value, true));
  els.timeline.addEventListener("click", () => {
    if (current) {
      els.player.currentTime = current.start;
      drawTimeline();
    }
  });

  // ---- search ----------------------------------------------------------------------------

  /** Search; ``weaker`` asks for the whole ranking (min_confidence=any), after "no good match". */
  async function search(q, weaker = false) {
    clearError();
    els.weaker.hidden = true;
    const { k, preset } = options();
    const params = new URLSearchParams({ q, k, preset });
    const asked = new URLSearchParams(params);
    if (weaker) asked.set("min_confidence", "any");
    setBusy(true);
    setStatus("searching…");
    try {
      const data = await api(`/api/search?${asked}`);
      clearResults();
      const n = data.results.length;
      const title = !n ? `no good match for “${data.query}”`
        : weaker ? `weaker matches for “${data.query}” (none answers it well)`
        : `${n} moment${n === 1 ? "" : "s"} for “${data.query}”`;
      showMoments(title, data.results);
      setStatus(n ? "" : "no good match: nothing in this library answers it well; try other words or another preset");
      els.weaker.hidden = n > 0 || weaker;
      history.replaceState(null, "", `?${params}`);
    } catch (e) {
      setStatus("");
      showError(e.message);
    } finally {
      setBusy(false);
    }
  }

  els.searchForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    search(els.q.value);
  });

  // ---- match a clip ----------------------------------------------------------------------

  function showCaptions(results) {
    const items = results.map((r) => {
      const li = el("li", "caption");
      li.appendChild(el("span", "caption-text", r.text));
      li.appendChild(el("span", "score", Number(r.score).toFixed(3)));
      const ch = channelsText(r.channels);
      if (ch) li.title = ch;
      return li;
    });
    if (!items.length) items.push(el("li", "caption empty", "no matching captions"));
    els.captions.replaceChildren(...items);
    els.captionsPanel.hidden = false;
  }

  els.clipForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearError();
    const file = els.clip.files && els.clip.files[0];
    if (!file) {
      showError("choose a video clip to upload first");
      return;
    }
    const { k, preset } = options();
    const body = new FormData();
    body.append("clip", file, file.name);
    setBusy(true);
    setStatus(`matching ${file.name}…`);
    try {
      const data = await api(`/api/match-clip?${new URLSearchParams({ k, preset })}`, { method: "POST", body });
      clearResults();
      showCaptions(data.results || []);
      const rank = (m) => (m.match === "source" ? 0 : 1);
      const moments = (data.moments || []).map((m, i) => [m, i])
        .sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1])
        .map(([m]) => m);
      const n = moments.length;
      showMoments(`${n} moment${n === 1 ? "" : "s"} like ${data.clip} (${fmt(data.duration)})`, moments);
      setStatus(n ? "" : "no moment of the library looks like this clip");
    } catch (e) {
      setStatus("");
      showError(e.message);
    } finally {
      setBusy(false);
    }
  });

  // ---- start: a shared link (?q=...) searches at once --------------------------------------

  const initial = new URLSearchParams(location.search);
  if (initial.get("preset")) {
    const p = initial.get("preset");
    if ([...els.preset.options].some((o) => o.value === p)) els.preset.value = p;
  }
  if (initial.get("k")) els.k.value = initial.get("k");
  if (initial.get("q")) {
    els.q.value = initial.get("q");
    search(els.q.value);
  }
})();
