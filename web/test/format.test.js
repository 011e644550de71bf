import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { clock, credits, duration, rate } from "../js/format.js";

describe("format", () => {
  it("shows the time as m:ss, and h:mm:ss from an hour on", () => {
    assert.deepEqual([0, 9, 60, 599, 3599, 3600, 3661, 36_000].map(clock), ["0:00", "0:09", "1:00", "9:59", "59:59", "1:00:00", "1:01:01", "10:00:00"]);
    assert.equal(clock(59.999), "0:59");
  });

  it("shows minor units as credits without float noise", () => {
    assert.deepEqual([0, 7, 199, 10_000, 123_456].map(credits), ["0.00", "0.07", "1.99", "100.00", "1234.56"]);
    assert.equal(credits(null), "–");
    assert.equal(rate(199), "1.99 credits/min");
  });

  it("says a length of time in whole minutes when it is some, in seconds otherwise", () => {
    assert.deepEqual([120, 60, 3600, 6, 1, 90, 61, 59].map(duration), [
      "2 minutes",
      "1 minute",
      "60 minutes",
      "6 seconds",
      "1 second",
      "90 seconds",
      "61 seconds",
      "59 seconds",
    ]);
    // Nothing to say rather than nonsense: the caller words it otherwise.
    assert.deepEqual([undefined, null, 0, -120, Number.NaN, "120", 0.4].map(duration), [null, null, null, null, null, null, null]);
  });
});
