// Herald console: show each UTC time's local equivalent on hover/tap. Nothing else.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d)) { el.title = "Your time: " + d.toLocaleString(); }
  });
});
