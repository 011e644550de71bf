// How numbers read on the page. Money stays in integer minor units until it becomes text.

export function clock(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = String(s % 60).padStart(2, "0");
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

// 1 credit = 100 minor units (docs/contract.md); integer arithmetic, so 199 reads 1.99, never 1.9900000001.
export function credits(units) {
  if (units == null) return "–";
  const sign = units < 0 ? "-" : "";
  const whole = Math.abs(units);
  return `${sign}${Math.floor(whole / 100)}.${String(whole % 100).padStart(2, "0")}`;
}

export function rate(unitsPerMinute) {
  return unitsPerMinute == null ? "–" : `${credits(unitsPerMinute)} credits/min`;
}

// A length of time in words, as the idle notice says it: whole minutes as minutes ("1 minute",
// "2 minutes"), anything else in seconds ("6 seconds", "90 seconds"). Null when there is
// nothing sensible to say (missing, not a positive number).
export function duration(totalSeconds) {
  if (typeof totalSeconds !== "number" || !Number.isFinite(totalSeconds)) return null;
  const s = Math.round(totalSeconds);
  if (s <= 0) return null;
  const [count, unit] = s % 60 === 0 ? [s / 60, "minute"] : [s, "second"];
  return `${count} ${unit}${count === 1 ? "" : "s"}`;
}
