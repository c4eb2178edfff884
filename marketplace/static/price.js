/* Live price on a module page: exact integer arithmetic (BigInt micro-units), no network;
   the form works without it (a static file: the pages' Content-Security-Policy allows no inline script). */
(function () {
  var form = document.querySelector("form.calculator"), input = document.getElementById("calls");
  var out = document.getElementById("price"), terms = JSON.parse(form.dataset.terms);
  if (terms.kind !== "pay_per_use" || typeof BigInt === "undefined") return;
  var M = BigInt(1000000), MINOR = BigInt(10000);  /* CNY: 2 places = 10^6 / 10^4 */
  function micro(text) { var p = String(text).split("."); return BigInt(p[0]) * M + BigInt(((p[1] || "") + "000000").slice(0, 6)); }
  function amount(b) {
    if (terms.model === "per_unit") return b * micro(terms.unit_price);
    var tiers = terms.tiers, i, total = BigInt(0), floor = BigInt(0), top;
    if (terms.model === "volume") {
      for (i = 0; i < tiers.length; i++) if (tiers[i].up_to == null || b <= BigInt(tiers[i].up_to)) return b * micro(tiers[i].unit_price);
    }
    for (i = 0; i < tiers.length; i++) {
      top = tiers[i].up_to == null ? b : (b < BigInt(tiers[i].up_to) ? b : BigInt(tiers[i].up_to));
      if (top <= floor) break;
      total += (top - floor) * micro(tiers[i].unit_price); floor = top;
    }
    return total;
  }
  function show() {
    if (!/^\d+$/.test(input.value) || terms.currency !== "CNY") return;
    var b = BigInt(input.value) - BigInt(terms.free_units || 0); if (b < 0) b = BigInt(0);
    var minor = (amount(b) + MINOR / BigInt(2)) / MINOR;
    if (terms.cap != null && micro(terms.cap) / MINOR < minor) minor = micro(terms.cap) / MINOR;
    var yuan = (minor / BigInt(100)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    out.textContent = "¥" + yuan + "." + (minor % BigInt(100)).toString().padStart(2, "0");
  }
  input.addEventListener("input", show);
})();
