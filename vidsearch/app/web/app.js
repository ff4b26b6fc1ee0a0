/* vidsearch web page: search, play the moment at the right second, match an uploaded clip.
 * Plain JS, no framework; every piece of data is inserted with textContent (never innerHTML).
 * A server started with --token: open the page as /#token=TOKEN (or answer the prompt); the token
 * is kept in this tab's sessionStorage and sent as "Authorization: Bearer"; the fragment is removed
 * from the address bar at once. Videos and thumbnails play from the signed URLs the API returns.
 *
 * The address bar always says what is shown: ?q=&preset=&k= and the filters for the search,
 * v=VIDEO_ID&t=SECONDS for the video playing (kept up to date while it plays), so a copied link
 * opens the same search and the same second. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  const els = {
    searchForm: $("search-form"), q: $("q"), preset: $("preset"), k: $("k"),
    searchButton: $("search-button"),
    filters: $("filters"), filterCount: $("filter-count"), fVideo: $("f-video"), fFolder: $("f-folder"),
    fMin: $("f-min"), fMax: $("f-max"), fLanguage: $("f-language"), fClear: $("f-clear"),
    clipForm: $("clip-form"), clip: $("clip"), clipButton: $("clip-button"),
    error: $("error"), status: $("status"), weaker: $("weaker"),
    results: $("results"), resultsHead: $("results-head"), resultsTitle: $("results-title"),
    loadMore: $("load-more"), exportJson: $("export-json"), exportCsv: $("export-csv"),
    captionsPanel: $("captions-panel"), captions: $("captions"),
    playerPanel: $("player-panel"), player: $("player"), libraryFacts: $("library-facts"),
    timeline: $("timeline"), span: $("timeline-span"), head: $("timeline-head"),
    nowPlaying: $("now-playing"), actions: $("player-actions"), copyLink: $("copy-link"), linkBox: $("link-box"),
    transcriptPanel: $("transcript-panel"), speech: $("transcript-speech"), screen: $("transcript-screen"),
    screenTitle: $("screen-title"), langSwitch: $("lang-switch"),
  };

  // ---- the UI's words, in English and Chinese -----------------------------------------------

  const STRINGS = {
    en: {
      tagline: "Find the moment in your videos: by words (any language) or by a clip.",
      search: "Search", query: "Query", queryPlaceholder: "e.g. 猫咪玩毛线球 or rocket launch",
      preset: "Preset", results: "Results", searchButton: "Search",
      filters: "Filters", filterVideo: "Video", allVideos: "all videos", filterFolder: "Folder",
      folderPlaceholder: "e.g. cats", filterMinLength: "Min length (s)", filterMaxLength: "Max length (s)",
      filterLanguage: "Spoken language", anyLanguage: "any", clearFilters: "Clear",
      uploadClip: "Or upload a clip or a photo", matchClip: "Find moments", showWeaker: "show weaker matches",
      player: "Player", libraryTitle: "This library",
      idleHint: "Search, then pick a result to play it at the right second.",
      copyLink: "copy link", linkCopied: "link copied", copyByHand: "copy this link:",
      transcript: "Transcript", onScreen: "On screen", noSpeech: "nothing said in this video",
      resultsPanel: "Results", matchingCaptions: "Matching captions", export: "Export", loadMore: "load more",
      moreLikeThis: "more like this",
      factVideos: "videos", factLength: "length", factChannels: "channels live", factLastIndexed: "last indexed",
      factLanguages: "languages", never: "never", silent: "silent", none: "none",
      minutes: "{n} min", hours: "{n} h",
      searching: "searching…", loading: "loading {name}…", matching: "matching {name}…",
      playing: "playing {name} from {jump} (moment {start}–{end})",
      playingAt: "playing {name} from {jump}",
      noGoodMatch: "no good match for “{q}”",
      weakerFor: "weaker matches for “{q}” (none answers it well)",
      momentsFor: "{n} moments for “{q}”", oneMomentFor: "1 moment for “{q}”",
      noGoodMatchHint: "no good match: nothing in this library answers it well; try other words or another preset",
      noGoodMatchFiltered: "no good match among the filtered videos; clear the filters to search them all",
      momentsLike: "{n} moments like {name} ({duration})", noClipMoment: "no moment of the library looks like this clip",
      likeMoment: "{n} moments like {name} at {time}", noneLike: "nothing else in the library is like this moment",
      noCaptions: "no matching captions", chooseClip: "choose a video clip to upload first",
      cannotPlay: "cannot play {name} in this browser", cannotReach: "cannot reach the vidsearch server",
      unreadable: "the server sent an unreadable answer", requestFailed: "request failed (HTTP {status})",
      tokenPrompt: "This vidsearch server asks for its access token:",
      jumpTo: "{span} · jump to {jump}", playFrom: "play {name} from {time}", keyframe: "keyframe of {name} at {time}",
      confidence: "confidence", score: "score", momentInVideo: "moment {start}–{end} of {duration}",
      high: "high", medium: "medium", low: "low", source: "source", similar: "similar",
      noVideo: "no video {id} in the library",
    },
    zh: {
      tagline: "在视频里找到那一刻：用文字（任何语言）或用一段片段。",
      search: "搜索", query: "查询", queryPlaceholder: "例如 猫咪玩毛线球 或 rocket launch",
      preset: "预设", results: "结果数", searchButton: "搜索",
      filters: "筛选", filterVideo: "视频", allVideos: "全部视频", filterFolder: "文件夹",
      folderPlaceholder: "例如 cats", filterMinLength: "最短时长（秒）", filterMaxLength: "最长时长（秒）",
      filterLanguage: "语音语言", anyLanguage: "不限", clearFilters: "清除",
      uploadClip: "或上传片段或照片", matchClip: "查找相似时刻", showWeaker: "显示较弱的匹配",
      player: "播放器", libraryTitle: "本视频库",
      idleHint: "先搜索，再点一个结果，从对应的那一秒开始播放。",
      copyLink: "复制链接", linkCopied: "链接已复制", copyByHand: "请复制此链接：",
      transcript: "字幕", onScreen: "画面文字", noSpeech: "此视频没有语音",
      resultsPanel: "结果", matchingCaptions: "匹配的文案", export: "导出", loadMore: "加载更多",
      moreLikeThis: "更多类似",
      factVideos: "视频", factLength: "总时长", factChannels: "可用通道", factLastIndexed: "最近索引",
      factLanguages: "语言", never: "从未", silent: "无语音", none: "无",
      minutes: "{n} 分钟", hours: "{n} 小时",
      searching: "正在搜索…", loading: "正在加载 {name}…", matching: "正在匹配 {name}…",
      playing: "正在播放 {name}，从 {jump} 开始（片段 {start}–{end}）",
      playingAt: "正在播放 {name}，从 {jump} 开始",
      noGoodMatch: "“{q}” 没有好的匹配",
      weakerFor: "“{q}” 的较弱匹配（都不太符合）",
      momentsFor: "“{q}” 的 {n} 个片段", oneMomentFor: "“{q}” 的 1 个片段",
      noGoodMatchHint: "没有好的匹配：库里没有内容能很好地回答它；换个说法或换个预设试试",
      noGoodMatchFiltered: "筛选后的视频里没有好的匹配；清除筛选可搜索全部视频",
      momentsLike: "与 {name}（{duration}）相似的 {n} 个片段", noClipMoment: "库里没有与此片段相似的内容",
      likeMoment: "与 {name} {time} 处相似的 {n} 个片段", noneLike: "库里没有其他与此片段相似的内容",
      noCaptions: "没有匹配的文案", chooseClip: "请先选择要上传的视频片段",
      cannotPlay: "此浏览器无法播放 {name}", cannotReach: "无法连接 vidsearch 服务器",
      unreadable: "服务器的回答无法读取", requestFailed: "请求失败（HTTP {status}）",
      tokenPrompt: "此 vidsearch 服务器需要访问令牌：",
      jumpTo: "{span} · 跳到 {jump}", playFrom: "从 {time} 播放 {name}", keyframe: "{name} 在 {time} 的关键帧",
      confidence: "置信度", score: "得分", momentInVideo: "片段 {start}–{end}，全长 {duration}",
      high: "高", medium: "中", low: "低", source: "来源", similar: "相似",
      noVideo: "库里没有视频 {id}",
    },
  };

  const LANG_KEY = "vidsearch-lang";

  /** The UI language: ?lang=, else the one chosen here before, else Chinese when the browser prefers it. */
  function initialLang() {
    const asked = new URLSearchParams(location.search).get("lang");
    if (asked && STRINGS[asked]) return asked;
    try {
      const kept = localStorage.getItem(LANG_KEY);
      if (kept && STRINGS[kept]) return kept;
    } catch (e) { /* storage off */ }
    const preferred = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
    return /^zh\b/i.test(preferred) ? "zh" : "en";
  }

  let lang = initialLang();

  /** The UI string ``key`` in the current language, {name}s filled from ``vars``. */
  function t(key, vars) {
    const text = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
    return text.replace(/\{(\w+)\}/g, (all, name) => (vars && name in vars ? String(vars[name]) : all));
  }

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
    for (const node of document.querySelectorAll("[data-i18n-aria]")) node.setAttribute("aria-label", t(node.dataset.i18nAria));
    const other = lang === "zh" ? "en" : "zh";
    els.langSwitch.textContent = other === "zh" ? "中文" : "English";
    els.langSwitch.lang = other === "zh" ? "zh" : "en";
    els.langSwitch.title = other === "zh" ? "中文界面" : "English interface";
  }

  // ---- times and lengths ----------------------------------------------------------------------

  /** Seconds as m:ss.s (h:mm:ss.s past an hour): 4.2 -> "0:04.2". */
  function fmt(time) {
    if (!Number.isFinite(time) || time < 0) time = 0;
    const tenths = Math.round(time * 10);
    const h = Math.floor(tenths / 36000);
    const m = Math.floor((tenths % 36000) / 600);
    const s = ((tenths % 600) / 10).toFixed(1).padStart(4, "0");
    return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  /** A library's total length: minutes below an hour, else hours. */
  function fmtLength(seconds) {
    if (!Number.isFinite(seconds) || seconds <= 0) return t("minutes", { n: 0 });
    if (seconds < 3600) return t("minutes", { n: Math.max(1, Math.round(seconds / 60)) });
    return t("hours", { n: (seconds / 3600).toFixed(1) });
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
    els.loadMore.disabled = busy;
    document.body.classList.toggle("busy", busy);
  }

  async function send(url, options) {
    const headers = new Headers((options && options.headers) || {});
    if (memoryToken) headers.set("Authorization", `Bearer ${memoryToken}`);
    try {
      return await fetch(url, { ...options, headers });
    } catch (e) {
      throw new Error(t("cannotReach"));
    }
  }

  /** fetch + JSON; throws an Error carrying the API's one-line message on a non-2xx answer.
   * A 401 asks for the access token once and tries again. */
  async function api(url, options) {
    let res = await send(url, options);
    if (res.status === 401) {
      const token = window.prompt(t("tokenPrompt"), "");
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
      const msg = body && typeof body.error === "string" ? body.error : t("requestFailed", { status: res.status });
      throw new Error(msg);
    }
    if (body === null) throw new Error(t("unreadable"));
    return body;
  }

  function options() {
    let k = parseInt(els.k.value, 10);
    if (!Number.isFinite(k)) k = 10;
    return { k: String(k), preset: els.preset.value || "short-video" };
  }

  // ---- filters ----------------------------------------------------------------------------

  const FILTER_FIELDS = [["video_id", "fVideo"], ["folder", "fFolder"], ["min_duration", "fMin"],
    ["max_duration", "fMax"], ["language", "fLanguage"]];

  /** The filter bar as query parameters (only the fields set). */
  function filterParams() {
    const out = {};
    for (const [name, key] of FILTER_FIELDS) {
      const value = els[key].value.trim();
      if (value) out[name] = value;
    }
    return out;
  }

  function showFilterCount() {
    const n = Object.keys(filterParams()).length;
    els.filterCount.textContent = n ? `(${n})` : "";
  }

  /** A <select> holds ``value`` even before its options arrive (a shared link is read at once). */
  function selectValue(select, value, label) {
    if (![...select.options].some((o) => o.value === value)) select.appendChild(new Option(label || value, value));
    select.value = value;
  }

  async function loadVideos() {
    try {
      const data = await api("/api/videos");
      const chosen = els.fVideo.value;
      const first = els.fVideo.options[0];
      els.fVideo.replaceChildren(first, ...data.videos.map((v) => new Option(`${v.video} (${fmt(v.duration)})`, String(v.video_id))));
      if (chosen) selectValue(els.fVideo, chosen);
    } catch (e) { /* the picker stays empty; search still works */ }
  }

  // ---- the library's status (shown before anything plays) --------------------------------------

  async function loadHealth() {
    let h;
    try {
      h = await api("/api/health");
    } catch (e) {
      return;
    }
    health = h;
    showHealth();
    const chosen = els.fLanguage.value;
    const first = els.fLanguage.options[0];
    const languages = Object.keys(h.languages || {}).filter((l) => l);
    els.fLanguage.replaceChildren(first, ...languages.map((l) => new Option(l, l)));
    if (chosen) selectValue(els.fLanguage, chosen);
  }

  let health = null;

  function showHealth() {
    if (!health) return;
    const h = health;
    const facts = [
      ["factVideos", String(h.videos), "videos"],
      ["factLength", fmtLength(h.duration_s), "length"],
      ["factChannels", (h.channels || []).join(", ") || t("none"), "channels"],
      ["factLanguages", Object.entries(h.languages || {}).map(([l, n]) => `${l || t("silent")} ${n}`).join(", ") || t("none"), "languages"],
      ["factLastIndexed", h.last_indexed ? new Date(h.last_indexed * 1000).toLocaleString(lang === "zh" ? "zh-CN" : "en") : t("never"), "last-indexed"],
    ];
    els.libraryFacts.replaceChildren(...facts.flatMap(([key, value, name]) => {
      const dt = el("dt", null, t(key));
      const dd = el("dd", null, value);
      dd.dataset.fact = name;
      return [dt, dd];
    }));
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
    node.setAttribute("aria-label", t("playFrom", { name, time: fmt(m.jump) }));

    const thumb = el("div", "thumb");
    const img = el("img");
    img.loading = "lazy";
    img.alt = t("keyframe", { name, time: fmt(m.start) });
    if (m.thumbnail) {
      img.src = m.thumbnail;
    } else {
      thumb.classList.add("no-thumb");
    }
    img.addEventListener("error", () => thumb.classList.add("no-thumb"), { once: true });
    thumb.appendChild(img);
    thumb.appendChild(el("span", "span-badge", `${fmt(m.start)}–${fmt(m.end)}`));
    if (m.match) thumb.appendChild(el("span", `match-badge match-${m.match}`, t(m.match)));
    node.appendChild(thumb);

    const body = el("div", "card-body");
    const head = el("div", "card-head");
    head.appendChild(el("span", "name", name)).title = name;
    if (m.confidence) head.appendChild(el("span", `confidence confidence-${m.confidence}`, t(m.confidence))).title = t("confidence");
    head.appendChild(el("span", "score", Number(m.score).toFixed(3))).title = t("score");
    body.appendChild(head);
    body.appendChild(el("div", "time", t("jumpTo", { span: `${fmt(m.start)}–${fmt(m.end)}`, jump: fmt(m.jump) })));
    if (m.snippet) body.appendChild(el("p", "snippet", m.snippet));
    if (Array.isArray(m.tags) && m.tags.length) {
      const tags = el("ul", "tags");
      for (const tag of m.tags.slice(0, 8)) tags.appendChild(el("li", null, tag));
      body.appendChild(tags);
    }
    const ch = channelsText(m.channels);
    if (ch) body.appendChild(el("div", "channels", ch));
    if (m.segment_id >= 0) {
      const more = el("button", "more-like secondary small", t("moreLikeThis"));
      more.type = "button";
      more.addEventListener("click", (ev) => {
        ev.stopPropagation();
        moreLike(m);
      });
      body.appendChild(more);
    }
    node.appendChild(body);

    const activate = () => {
      for (const c of els.results.querySelectorAll(".card.active")) c.classList.remove("active");
      node.classList.add("active");
      play(m);
    };
    node.addEventListener("click", activate);
    node.addEventListener("keydown", (ev) => {
      if (ev.target === node && (ev.key === "Enter" || ev.key === " ")) {
        ev.preventDefault();
        activate();
      }
    });
    return node;
  }

  let shown = []; // the moments listed, in order (what Export writes)

  function showMoments(title, moments) {
    shown = moments.slice();
    els.results.replaceChildren(...moments.map(card));
    els.resultsTitle.textContent = title;
    els.resultsHead.hidden = false;
  }

  function appendMoments(moments) {
    shown = shown.concat(moments);
    els.results.append(...moments.map(card));
  }

  function clearResults() {
    shown = [];
    els.results.replaceChildren();
    els.resultsHead.hidden = true;
    els.loadMore.hidden = true;
    els.captions.replaceChildren();
    els.captionsPanel.hidden = true;
  }

  // ---- the address bar ------------------------------------------------------------------------

  let searchParams = null; // the search shown: q, preset, k and filters
  let current = null; // the moment (or shared second) being played

  /** The page's address for what is shown: the search, and the video at the player's second. */
  function pageUrl() {
    const params = new URLSearchParams(searchParams || {});
    if (current) {
      params.set("v", String(current.video_id));
      const at = els.player.readyState >= 1 ? els.player.currentTime : current.jump;
      params.set("t", (Math.round(at * 10) / 10).toFixed(1));
    }
    const query = params.toString();
    return location.pathname + (query ? `?${query}` : "");
  }

  let lastUrl = "";

  function updateUrl() {
    const url = pageUrl();
    if (url === lastUrl) return;
    lastUrl = url;
    history.replaceState(null, "", url);
  }

  els.copyLink.addEventListener("click", async () => {
    updateUrl();
    const link = location.href;
    els.linkBox.value = link;
    try {
      await navigator.clipboard.writeText(link);
      els.linkBox.hidden = true;
      setStatus(t("linkCopied"));
    } catch (e) { // no clipboard (an http page on another machine): the link to copy by hand
      els.linkBox.hidden = false;
      els.linkBox.select();
      setStatus(t("copyByHand"));
    }
  });

  // ---- the player ------------------------------------------------------------------------

  let playToken = 0;

  function play(m) {
    const token = ++playToken;
    const player = els.player;
    const src = m.stream;
    const sameVideo = current && current.video_id === m.video_id;
    current = m;
    window.vidsearchLastJump = m.jump;
    els.playerPanel.classList.remove("idle");
    els.actions.hidden = false;
    els.linkBox.hidden = true;
    els.nowPlaying.textContent = t("loading", { name: m.video });

    const seek = () => {
      if (token !== playToken) return; // a later click won
      player.currentTime = m.jump;
      drawTimeline();
      els.nowPlaying.textContent = m.start === m.end ? t("playingAt", { name: m.video, jump: fmt(m.jump) })
        : t("playing", { name: m.video, jump: fmt(m.jump), start: fmt(m.start), end: fmt(m.end) });
      updateUrl();
      const p = player.play();
      if (p && typeof p.catch === "function") p.catch(() => { /* autoplay blocked: the user presses play */ });
    };

    if (player.getAttribute("src") === src && player.readyState >= 1) {
      seek();
    } else {
      player.addEventListener("loadedmetadata", seek, { once: true });
      player.src = src;
    }
    if (!sameVideo || transcriptFor !== transcriptKey(m.video_id)) loadTranscript(m.video_id);
    updateUrl();
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
    const pct = (x) => `${Math.max(0, Math.min(100, (x / d) * 100))}%`;
    els.span.style.left = pct(current.start);
    els.span.style.width = current.end > current.start ? `${Math.max(0.5, ((current.end - current.start) / d) * 100)}%` : "0";
    els.head.style.left = pct(els.player.currentTime);
    els.timeline.title = t("momentInVideo", { start: fmt(current.start), end: fmt(current.end), duration: fmt(d) });
    els.timeline.hidden = false;
  }

  /** Seek the player to ``time`` and play (a transcript line or word was clicked). */
  function seekTo(time) {
    if (!current) return;
    els.player.currentTime = time;
    const p = els.player.play();
    if (p && typeof p.catch === "function") p.catch(() => {});
    drawTimeline();
    updateUrl();
  }

  let urlTimer = 0;
  els.player.addEventListener("timeupdate", () => {
    if (current && Number.isFinite(els.player.duration)) {
      els.head.style.left = `${Math.min(100, (els.player.currentTime / els.player.duration) * 100)}%`;
    }
    markPlayingLine();
    // The shared second follows playback, once a second at most (replaceState is not free).
    if (current && !urlTimer) {
      urlTimer = window.setTimeout(() => {
        urlTimer = 0;
        updateUrl();
      }, 1000);
    }
  });
  els.player.addEventListener("seeked", updateUrl);
  els.player.addEventListener("pause", updateUrl);
  els.player.addEventListener("error", () => {
    if (current) showError(t("cannotPlay", { name: current.video }));
  });
  els.weaker.addEventListener("click", () => search(els.q.value, { weaker: true }));
  els.timeline.addEventListener("click", () => {
    if (current) seekTo(current.start);
  });

  // ---- the transcript panel ------------------------------------------------------------------

  let transcriptFor = ""; // "video id|query" of the transcript shown
  let transcriptToken = 0;

  function transcriptKey(videoId) {
    return `${videoId}|${searchParams ? searchParams.q || "" : ""}`;
  }

  /** A line's text with its marked words as <mark> elements (a click on one seeks to the word). */
  function markedText(line) {
    const out = [];
    let pos = 0;
    for (const m of line.marks || []) {
      if (m.from > pos) out.push(document.createTextNode(line.text.slice(pos, m.from)));
      const mark = el("mark", null, line.text.slice(m.from, m.to));
      mark.dataset.time = String(m.time);
      mark.title = fmt(m.time);
      mark.addEventListener("click", (ev) => {
        ev.stopPropagation();
        seekTo(m.time);
      });
      out.push(mark);
      pos = m.to;
    }
    if (pos < line.text.length) out.push(document.createTextNode(line.text.slice(pos)));
    return out;
  }

  function transcriptLine(line) {
    const li = el("li", "line");
    li.tabIndex = 0;
    li.dataset.start = String(line.start);
    li.dataset.end = String(line.end);
    if (line.marks && line.marks.length) li.classList.add("matched");
    li.appendChild(el("span", "line-time", fmt(line.start)));
    const text = el("span", "line-text");
    text.append(...markedText(line));
    li.appendChild(text);
    li.addEventListener("click", () => seekTo(line.start));
    li.addEventListener("keydown", (ev) => {
      if (ev.target === li && (ev.key === "Enter" || ev.key === " ")) {
        ev.preventDefault();
        seekTo(line.start);
      }
    });
    return li;
  }

  async function loadTranscript(videoId) {
    const token = ++transcriptToken;
    const key = transcriptKey(videoId);
    const q = searchParams ? searchParams.q || "" : "";
    let data;
    try {
      data = await api(`/api/videos/${encodeURIComponent(videoId)}/transcript?${new URLSearchParams({ q })}`);
    } catch (e) {
      if (token === transcriptToken) els.transcriptPanel.hidden = true;
      return;
    }
    if (token !== transcriptToken) return; // another video was picked meanwhile
    transcriptFor = key;
    const speech = data.speech.map(transcriptLine);
    if (!speech.length) speech.push(el("li", "line empty", t("noSpeech")));
    els.speech.replaceChildren(...speech);
    els.screen.replaceChildren(...data.screen.map(transcriptLine));
    els.screenTitle.hidden = !data.screen.length;
    els.transcriptPanel.hidden = false;
    markPlayingLine();
  }

  /** The spoken line at the player's second gets .current, scrolled into the panel's view. */
  function markPlayingLine() {
    if (els.transcriptPanel.hidden) return;
    const now = els.player.currentTime;
    for (const li of els.speech.querySelectorAll(".line[data-start]")) {
      const on = Number(li.dataset.start) <= now && now < Number(li.dataset.end);
      if (on && !li.classList.contains("current")) {
        li.classList.add("current");
        const list = els.speech;
        if (li.offsetTop < list.scrollTop || li.offsetTop + li.offsetHeight > list.scrollTop + list.clientHeight) {
          list.scrollTop = li.offsetTop - list.offsetTop; // the list's own scroll, never the page's
        }
      } else if (!on) {
        li.classList.remove("current");
      }
    }
  }

  // ---- search ----------------------------------------------------------------------------

  let nextOffset = null;
  let lastSearch = null; // what "load more" asks again: {params, weaker}

  function resultsTitle(data, n, weaker) {
    if (!n) return t("noGoodMatch", { q: data.query });
    if (weaker) return t("weakerFor", { q: data.query });
    return n === 1 ? t("oneMomentFor", { q: data.query }) : t("momentsFor", { n, q: data.query });
  }

  /** Search; ``weaker`` asks for the whole ranking (min_confidence=any), after "no good match";
   * ``keepPlayer`` leaves a shared link's video playing. */
  async function search(q, { weaker = false } = {}) {
    clearError();
    els.weaker.hidden = true;
    const { k, preset } = options();
    const params = new URLSearchParams({ q, k, preset, ...filterParams() });
    const asked = new URLSearchParams(params);
    if (weaker) asked.set("min_confidence", "any");
    setBusy(true);
    setStatus(t("searching"));
    try {
      const data = await api(`/api/search?${asked}`);
      clearResults();
      const n = data.results.length;
      lastSearch = { asked, weaker, query: data.query };
      showMoments(resultsTitle(data, n, weaker), data.results);
      nextOffset = data.next_offset;
      els.loadMore.hidden = nextOffset === null || nextOffset === undefined;
      const filtered = Object.keys(filterParams()).length > 0;
      setStatus(n ? "" : filtered ? t("noGoodMatchFiltered") : t("noGoodMatchHint"));
      els.weaker.hidden = n > 0 || weaker;
      searchParams = Object.fromEntries(params);
      if (current && transcriptFor && transcriptFor !== transcriptKey(current.video_id)) loadTranscript(current.video_id);
      updateUrl();
    } catch (e) {
      setStatus("");
      showError(e.message);
    } finally {
      setBusy(false);
    }
  }

  els.loadMore.addEventListener("click", async () => {
    if (!lastSearch || nextOffset === null) return;
    clearError();
    const asked = new URLSearchParams(lastSearch.asked);
    asked.set("offset", String(nextOffset));
    setBusy(true);
    try {
      const data = await api(`/api/search?${asked}`);
      appendMoments(data.results);
      nextOffset = data.next_offset;
      els.loadMore.hidden = nextOffset === null || nextOffset === undefined;
      els.resultsTitle.textContent = resultsTitle(data, shown.length, lastSearch.weaker);
    } catch (e) {
      showError(e.message);
    } finally {
      setBusy(false);
    }
  });

  els.searchForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    search(els.q.value);
  });

  for (const [, key] of FILTER_FIELDS) {
    els[key].addEventListener("change", () => {
      showFilterCount();
      if (els.q.value.trim()) search(els.q.value);
    });
  }
  els.fClear.addEventListener("click", () => {
    for (const [, key] of FILTER_FIELDS) els[key].value = "";
    showFilterCount();
    if (els.q.value.trim()) search(els.q.value);
  });

  // ---- more like this ---------------------------------------------------------------------------

  async function moreLike(m) {
    clearError();
    els.weaker.hidden = true;
    setBusy(true);
    setStatus(t("searching"));
    try {
      const data = await api(`/api/segments/${encodeURIComponent(m.segment_id)}/similar?${new URLSearchParams({ k: options().k })}`);
      clearResults();
      const n = data.results.length;
      showMoments(t("likeMoment", { n, name: m.video, time: fmt(m.start) }), data.results);
      lastSearch = null;
      setStatus(n ? "" : t("noneLike"));
    } catch (e) {
      setStatus("");
      showError(e.message);
    } finally {
      setBusy(false);
    }
  }

  // ---- export the listed moments ----------------------------------------------------------------

  /** A link to a moment: this page at the moment's jump. */
  function momentLink(m) {
    const params = new URLSearchParams(searchParams || {});
    params.set("v", String(m.video_id));
    params.set("t", Number(m.jump).toFixed(1));
    return `${location.origin}${location.pathname}?${params}`;
  }

  const CSV_COLUMNS = ["rank", "video", "video_id", "start", "end", "jump", "score", "confidence", "match", "snippet", "link"];

  function csvCell(value) {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  /** The listed moments as {name, type, text}: JSON (the API's moments, each with its link) or CSV
   * (times as m:ss.s, as on the page). */
  function exportText(kind) {
    const rows = shown.map((m, i) => ({ rank: i + 1, ...m, link: momentLink(m) }));
    const base = `vidsearch-${(searchParams && searchParams.q) || "results"}`.replace(/[\\/:*?"<>|\s]+/g, "_").slice(0, 80);
    if (kind === "json") {
      const query = searchParams ? searchParams.q : null;
      return { name: `${base}.json`, type: "application/json", text: JSON.stringify({ query, results: rows }, null, 2) };
    }
    const lines = [CSV_COLUMNS.join(",")];
    for (const r of rows) {
      lines.push(CSV_COLUMNS.map((c) => csvCell(["start", "end", "jump"].includes(c) ? fmt(r[c]) : r[c])).join(","));
    }
    // A byte-order mark: spreadsheet programs then read the Chinese text as UTF-8.
    return { name: `${base}.csv`, type: "text/csv;charset=utf-8", text: "\ufeff" + lines.join("\r\n") + "\r\n" };
  }

  function download(kind) {
    const file = exportText(kind);
    window.vidsearchLastExport = file;
    const url = URL.createObjectURL(new Blob([file.text], { type: file.type }));
    const a = el("a");
    a.href = url;
    a.download = file.name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  els.exportJson.addEventListener("click", () => download("json"));
  els.exportCsv.addEventListener("click", () => download("csv"));

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
    if (!items.length) items.push(el("li", "caption empty", t("noCaptions")));
    els.captions.replaceChildren(...items);
    els.captionsPanel.hidden = false;
  }

  els.clipForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearError();
    const file = els.clip.files && els.clip.files[0];
    if (!file) {
      showError(t("chooseClip"));
      return;
    }
    const { k, preset } = options();
    const body = new FormData();
    body.append("clip", file, file.name);
    setBusy(true);
    setStatus(t("matching", { name: file.name }));
    try {
      const data = await api(`/api/match-clip?${new URLSearchParams({ k, preset })}`, { method: "POST", body });
      clearResults();
      lastSearch = null;
      showCaptions(data.results || []);
      const rank = (m) => (m.match === "source" ? 0 : 1);
      const moments = (data.moments || []).map((m, i) => [m, i])
        .sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1])
        .map(([m]) => m);
      const n = moments.length;
      showMoments(t("momentsLike", { n, name: data.clip, duration: fmt(data.duration) }), moments);
      setStatus(n ? "" : t("noClipMoment"));
    } catch (e) {
      setStatus("");
      showError(e.message);
    } finally {
      setBusy(false);
    }
  });

  // ---- the UI language --------------------------------------------------------------------------

  els.langSwitch.addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    try {
      localStorage.setItem(LANG_KEY, lang);
    } catch (e) { /* storage off: the choice lasts until the page reloads */ }
    applyLang();
    showHealth();
    if (lastSearch && els.q.value.trim()) search(els.q.value, { weaker: lastSearch.weaker });
    else if (shown.length) els.results.replaceChildren(...shown.map(card));
  });

  // ---- start: a shared link (?q=... and/or ?v=ID&t=SEC) opens what it shows ----------------------

  /** Open video ``id`` at ``time`` seconds and play (a shared link). */
  async function openShared(id, time) {
    try {
      const v = await api(`/api/videos/${encodeURIComponent(id)}`);
      const at = Math.max(0, Math.min(time, Number.isFinite(v.duration) ? v.duration : time));
      play({ video: v.video, video_id: v.video_id, stream: v.stream, start: at, end: at, jump: at });
    } catch (e) {
      showError(e.message);
    }
  }

  applyLang();
  const initial = new URLSearchParams(location.search);
  if (initial.get("preset")) {
    const p = initial.get("preset");
    if ([...els.preset.options].some((o) => o.value === p)) els.preset.value = p;
  }
  if (initial.get("k")) els.k.value = initial.get("k");
  for (const [name, key] of FILTER_FIELDS) {
    const value = initial.get(name);
    if (!value) continue;
    if (els[key].tagName === "SELECT") selectValue(els[key], value);
    else els[key].value = value;
    els.filters.open = true;
  }
  showFilterCount();
  loadHealth();
  loadVideos();
  if (initial.get("q")) {
    els.q.value = initial.get("q");
    searchParams = { q: initial.get("q") }; // the transcript marks the query's words at once
    search(els.q.value);
  }
  const sharedVideo = initial.get("v");
  if (sharedVideo && /^\d+$/.test(sharedVideo)) {
    const time = Number.parseFloat(initial.get("t") || "0");
    openShared(sharedVideo, Number.isFinite(time) && time >= 0 ? time : 0);
  }
})();
