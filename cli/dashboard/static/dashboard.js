// Shoal dashboard: live pages through Server-Sent Events, no framework and no build step.
"use strict";

const live = document.getElementById("live");
const feed = document.getElementById("events");
let refreshing = null;

// Fetch the page's live part again; several events in a burst make one fetch.
function refresh() {
  if (refreshing) return;
  refreshing = setTimeout(async () => {
    refreshing = null;
    const answer = await fetch(document.body.dataset.fragment);
    if (answer.ok) live.innerHTML = await answer.text();
  }, 50);
}

const events = new EventSource("/events");
events.addEventListener("cluster", (message) => {
  const line = document.createElement("div");
  line.textContent = new Date().toLocaleTimeString() + "  " + message.data;
  feed.prepend(line);
  while (feed.childElementCount > 200) feed.lastElementChild.remove();
  refresh();
});
// Subscribed: whatever changed since this page was rendered, and its events were missed.
events.addEventListener("ready", refresh);
events.addEventListener("lost", (message) => {
  const line = document.createElement("div");
  line.className = "error";
  line.textContent = message.data;
  feed.prepend(line);
});

const form = document.getElementById("scale");
if (form) {
  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    const result = document.getElementById("scale-result");
    result.className = "";
    result.textContent = "scaling…";
    const answer = await fetch("/services/" + form.dataset.service + "/scale", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ replicas: form.elements.replicas.value }),
    });
    result.className = answer.ok ? "" : "error";
    result.textContent = await answer.text();
  });
}

const logs = document.getElementById("logs");
if (logs) {
  const lines = new EventSource("/services/" + logs.dataset.service + "/logs");
  lines.addEventListener("line", (message) => {
    logs.textContent += message.data + "\n";
    logs.scrollTop = logs.scrollHeight;
  });
}
