// Installed in every page before its own scripts: records every value #timer shows, with
// the page's monotonic time, and every notice, into window.__timeline. A MutationObserver
// sees every change of data-elapsed-seconds (each redraw is its own task), which no fixed
// sampling period can promise.
(() => {
  const timeline = (window.__timeline = []);
  let last = null;
  const push = (seconds, state, notice) => {
    const key = `${seconds}|${state}|${notice}`;
    if (key === last) return;
    last = key;
    timeline.push({ t: performance.now(), seconds: Number(seconds), state, notice });
  };
  const noticeText = () => {
    const notice = document.getElementById("notice");
    return notice && !notice.hidden ? notice.textContent : "";
  };
  new MutationObserver((records) => {
    const timer = document.getElementById("timer");
    if (!timer) return;
    // Values in between (two changes before this callback) come from each record's oldValue.
    const changes = records.filter((r) => r.target === timer && r.attributeName === "data-elapsed-seconds");
    changes.slice(1).forEach((r) => push(r.oldValue, timer.dataset.state, noticeText()));
    push(timer.dataset.elapsedSeconds, timer.dataset.state, noticeText());
  }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true, attributeOldValue: true });
})();
