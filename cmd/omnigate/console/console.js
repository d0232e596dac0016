// The sandbox console: conversations built from the platform events omnigate pushes
// to the sandbox's platform (streamed as server-sent events), and a customer's side
// that acts through the sandbox carriers. Plain script, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const RANK = { queued: 0, sending: 1, sent: 2, delivered: 3, read: 4, failed: 5, canceled: 5 };
const TICKS = { queued: "🕓", sending: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓" };
const LABEL = { sms: "SMS", whatsapp: "WhatsApp", messenger: "Messenger", instagram: "Instagram", x: "X", open: "Web" };
const ACTION = { stop: "Reply STOP", typing: "Typing…", unsend: "Unsend last message", story: "Mention in story", photo: "Send a photo" };

const state = {
  channels: [],        // served by sandbox carriers: {channel, address, queue, queue_name, actions}
  threads: new Map(),  // key -> thread
  convs: new Map(),    // conversation id -> thread key
  byMsg: new Map(),    // message id -> thread key
  seen: new Set(),     // event ids
  active: null,
  events: 0,
};

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function time(iso) {
  const d = iso ? new Date(iso) : new Date();
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

function key(channel, ours, contact) { return channel + "|" + ours + "|" + contact; }

function channelInfo(channel, ours) {
  return state.channels.find((c) => c.channel === channel && c.address === ours);
}

function thread(channel, ours, contact) {
  const k = key(channel, ours, contact);
  let t = state.threads.get(k);
  if (!t) {
    t = { key: k, channel, ours, contact, name: "", state: "", msgs: new Map(), order: [], last: 0, unread: 0, typingUntil: 0 };
    state.threads.set(k, t);
  }
  return t;
}

// apply folds one platform event into the conversations.
function apply(ev) {
  const d = ev.data || {};
  let t = null;
  switch (ev.type) {
    case "message.inbound":
    case "message.outbound":
    case "message.status": {
      const out = d.direction === "outbound";
      t = out ? thread(d.channel, d.from, d.to) : thread(d.channel, d.to, d.from);
      if (!out && d.contact_name) t.name = d.contact_name;
      let m = t.msgs.get(d.id);
      if (!m) {
        m = { id: d.id, out, at: ev.created_at, status: d.status };
        t.msgs.set(d.id, m);
        t.order.push(d.id);
        if (t.key !== state.active) t.unread++;
      }
      m.text = d.text || m.text || "";
      m.media = d.media || m.media;
      m.story = d.story_mention || m.story;
      m.carrierId = d.provider_message_id || m.carrierId;
      m.echo = ev.type === "message.outbound";
      if ((RANK[d.status] ?? 0) >= (RANK[m.status] ?? 0)) {
        m.status = d.status;
        m.error = d.error;
      }
      if (!out) t.typingUntil = 0;
      state.byMsg.set(d.id, t.key);
      break;
    }
    case "message.deleted": {
      const k = state.byMsg.get(d.id);
      t = k && state.threads.get(k);
      if (t && t.msgs.get(d.id)) t.msgs.get(d.id).deleted = true;
      break;
    }
    case "conversation.updated":
      t = thread(d.channel, d.address, d.contact);
      t.state = d.state;
      if (d.assigned_to) t.state += " · " + d.assigned_to;
      state.convs.set(d.id, t.key);
      break;
    case "typing": {
      const k = state.convs.get(ev.conversation_id);
      t = k && state.threads.get(k);
      if (t) t.typingUntil = d.typing ? Date.now() + 6000 : 0;
      if (t) setTimeout(render, 6100);
      break;
    }
  }
  if (t) {
    if (ev.conversation_id) state.convs.set(ev.conversation_id, t.key);
    t.last = Math.max(t.last, Date.parse(ev.created_at) || Date.now());
  }
}

function feed(ev) {
  state.events++;
  $("feed-count").textContent = state.events;
  const d = ev.data || {};
  const li = el("li", "ev");
  li.dataset.type = ev.type;
  const det = el("details");
  const sum = el("summary");
  sum.append(el("span", "type", ev.type));
  let what = "";
  if (ev.type.startsWith("message.")) what = [d.status, d.text ? "“" + d.text + "”" : "", d.error ? d.error.code : ""].filter(Boolean).join(" ");
  else if (ev.type === "conversation.updated") what = d.change + " → " + d.state;
  else if (ev.type === "typing") what = (d.contact || "") + (d.typing ? " is typing" : " stopped");
  sum.append(el("span", "what", what), el("span", "at", time(ev.created_at)));
  det.append(sum, el("pre", "", JSON.stringify(ev, null, 2)));
  li.append(det);
  $("feed").prepend(li);
}

function avatar(t) {
  const words = (t.name || "").split(/\s+/).filter((w) => /^[A-Za-z]/.test(w));
  const initials = words.length ? words.slice(0, 2).map((w) => w[0]).join("") : t.contact.slice(-2);
  return el("span", "avatar c-" + t.channel, initials.toUpperCase());
}

function renderThreads() {
  const list = $("thread-list");
  list.replaceChildren();
  const threads = [...state.threads.values()].sort((a, b) => b.last - a.last);
  $("threads-empty").hidden = threads.length > 0;
  for (const t of threads) {
    const li = el("li", "thread" + (t.key === state.active ? " active" : ""));
    li.dataset.thread = t.key;
    const body = el("div", "body");
    const name = el("div", "name", t.name && t.name !== t.contact ? t.name + " · " + t.contact : t.contact);
    const lastMsg = t.order.length ? t.msgs.get(t.order[t.order.length - 1]) : null;
    const last = el("div", "last");
    const chan = el("span", "chan c-" + t.channel, LABEL[t.channel] || t.channel);
    last.append(chan, " ", lastMsg ? (lastMsg.out ? "You: " : "") + (lastMsg.story ? "mentioned you in a story" : lastMsg.text) : "new");
    body.append(name, last);
    li.append(avatar(t), body);
    if (t.unread) li.append(el("span", "badge", String(t.unread)));
    li.addEventListener("click", () => select(t.key));
    list.append(li);
  }
}

function renderChat() {
  const t = state.active && state.threads.get(state.active);
  $("chat-empty").hidden = !!t;
  $("chat-view").hidden = !t;
  if (!t) return;
  const info = channelInfo(t.channel, t.ours);
  const chan = $("chat-channel");
  chan.className = "chan c-" + t.channel;
  chan.textContent = LABEL[t.channel] || t.channel;
  $("chat-contact").textContent = t.name && t.name !== t.contact ? t.name + " (" + t.contact + ")" : t.contact;
  $("chat-ours").textContent = "to " + t.ours + (info ? " · " + info.queue_name : "");
  $("chat-state").textContent = t.state;

  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.replaceChildren();
  for (const id of t.order) {
    const m = t.msgs.get(id);
    const b = el("div", "msg " + (m.out ? "out" : "in") + (m.deleted ? " deleted" : ""));
    b.dataset.id = m.id;
    b.dataset.status = m.status;
    if (m.echo) b.append(el("div", "sender", "sent outside omnigate"));
    if (m.story) b.append(el("div", "note", "📷 mentioned you in their story"));
    if (m.text) b.append(el("div", "text", m.text));
    for (const md of m.media || []) if (!m.story) b.append(el("div", "note", "📎 " + (md.content_type || "media")));
    if (m.deleted) b.append(el("div", "note", "the customer unsent this message"));
    if (m.status === "failed" && m.error) b.append(el("div", "reason", "⚠ " + m.error.code + ": " + m.error.message));
    const meta = el("div", "meta");
    meta.append(el("span", "", time(m.at)));
    if (m.out) {
      const ticks = el("span", "ticks", m.status === "failed" ? "✕" : TICKS[m.status] || "");
      ticks.title = m.status;
      meta.append(el("span", "status", m.status), ticks);
    }
    b.append(meta);
    box.append(b);
  }
  if (t.typingUntil > Date.now()) {
    const ty = el("div", "typing");
    ty.append(el("span"), el("span"), el("span"));
    box.append(ty);
  }
  if (atBottom || box.dataset.key !== t.key) box.scrollTop = box.scrollHeight;
  box.dataset.key = t.key;

  const actions = $("actions");
  actions.replaceChildren();
  for (const a of info ? info.actions : []) {
    const btn = el("button", "btn small", ACTION[a] || a);
    btn.type = "button";
    btn.dataset.action = a;
    btn.addEventListener("click", () => act(t, a));
    actions.append(btn);
  }
  $("composer-text").disabled = !info;
  $("composer-send").disabled = !info;
  $("composer-text").placeholder = info ? "Write as " + t.contact + "…" : "No sandbox carrier serves this address";
}

function render() { renderThreads(); renderChat(); }

function select(k) {
  state.active = k;
  const t = state.threads.get(k);
  if (t) t.unread = 0;
  $("composer-error").hidden = true;
  render();
  $("composer-text").focus();
}

async function customer(body) {
  const resp = await fetch("/sandbox/console/customer", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!resp.ok) {
    let msg = resp.statusText;
    try { msg = (await resp.json()).error.message; } catch (_) { /* keep the status text */ }
    throw new Error(msg);
  }
  return resp.json();
}

function showError(err) {
  const e = $("composer-error");
  e.textContent = err ? String(err.message || err) : "";
  e.hidden = !err;
}

async function act(t, action) {
  const body = { channel: t.channel, address: t.ours, contact: t.contact, action };
  if (action === "stop") { body.action = "say"; body.text = "STOP"; }
  if (action === "unsend") {
    const mine = t.order.map((id) => t.msgs.get(id)).filter((m) => !m.out && !m.deleted && m.carrierId);
    if (!mine.length) { showError("The customer has no message to unsend."); return; }
    body.carrier_id = mine[mine.length - 1].carrierId;
  }
  try { showError(null); await customer(body); } catch (err) { showError(err); }
}

$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const t = state.active && state.threads.get(state.active);
  const input = $("composer-text");
  const text = input.value.trim();
  if (!t || !text) return;
  try {
    showError(null);
    await customer({ channel: t.channel, address: t.ours, contact: t.contact, text });
    input.value = "";
  } catch (err) { showError(err); }
});

function sampleContact(channel) {
  const n = () => Math.floor(Math.random() * 10);
  switch (channel) {
    case "sms": case "whatsapp": return "+1415555" + [n(), n(), n(), n()].join("");
    case "open": return "visitor-" + [n(), n(), n()].join("");
    default: return "5" + Array.from({ length: 15 }, n).join("");
  }
}

$("new-channel").addEventListener("change", () => {
  const [channel] = $("new-channel").value.split("|");
  $("new-contact").value = sampleContact(channel);
});

$("new-chat").addEventListener("submit", (e) => {
  e.preventDefault();
  const [channel, ours] = $("new-channel").value.split("|");
  const contact = $("new-contact").value.trim();
  if (!channel || !contact) return;
  const t = thread(channel, ours, contact);
  t.last = Date.now();
  select(t.key);
  $("new-contact").value = sampleContact(channel);
});

function connect() {
  const conn = $("conn");
  const src = new EventSource("/sandbox/console/stream");
  src.onopen = () => { conn.dataset.state = "open"; conn.querySelector(".label").textContent = "live"; };
  src.onerror = () => { conn.dataset.state = "closed"; conn.querySelector(".label").textContent = "reconnecting"; };
  let pending = false;
  src.onmessage = (msg) => {
    let ev;
    try { ev = JSON.parse(msg.data); } catch (_) { return; }
    if (state.seen.has(ev.id)) return;
    state.seen.add(ev.id);
    apply(ev);
    feed(ev);
    if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; render(); }); }
  };
}

async function start() {
  const setup = await (await fetch("/sandbox/console/setup")).json();
  state.channels = setup.channels || [];
  $("feed-off").hidden = setup.events;
  const sel = $("new-channel");
  for (const c of state.channels) {
    const o = el("option", "", (LABEL[c.channel] || c.channel) + " → " + c.address + " (" + c.queue_name + ")");
    o.value = c.channel + "|" + c.address;
    sel.append(o);
  }
  if (state.channels.length) $("new-contact").value = sampleContact(state.channels[0].channel);
  render();
  connect();
}

start();
