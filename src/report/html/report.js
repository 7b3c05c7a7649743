// pushproof report: verdict filters, expand/collapse, and links from the
// matrix that open the check they point to. The page is complete without
// this script; it only adds the controls.
(function () {
  'use strict';
  var nav = document.getElementById('filters');
  if (!nav) { return; }
  var buttons = Array.prototype.slice.call(nav.querySelectorAll('button[data-filter]'));
  var checks = Array.prototype.slice.call(document.querySelectorAll('details.check'));
  var cells = Array.prototype.slice.call(document.querySelectorAll('a.cell'));
  var sections = Array.prototype.slice.call(document.querySelectorAll('section.category'));
  var status = document.getElementById('filter-status');

  function apply(filter) {
    if (!buttons.some(function (b) { return b.getAttribute('data-filter') === filter; })) {
      filter = 'all';
    }
    buttons.forEach(function (b) {
      b.setAttribute('aria-pressed', String(b.getAttribute('data-filter') === filter));
    });
    var shown = 0;
    checks.forEach(function (c) {
      var visible = filter === 'all' || c.getAttribute('data-verdict') === filter;
      c.hidden = !visible;
      if (visible) { shown += 1; }
    });
    cells.forEach(function (a) {
      a.classList.toggle('dim', !(filter === 'all' || a.getAttribute('data-verdict') === filter));
    });
    sections.forEach(function (s) {
      s.hidden = !s.querySelector('details.check:not([hidden])');
    });
    status.textContent = (filter === 'all' ? 'All ' : filter + ': ') + shown + ' of ' + checks.length + ' checks shown';
    return filter;
  }

  function fromHash() {
    var m = /(?:^#|&)verdict=([A-Za-z]+)/.exec(location.hash);
    return m ? m[1].toUpperCase() === 'ALL' ? 'all' : m[1].toUpperCase() : 'all';
  }

  buttons.forEach(function (b) {
    b.addEventListener('click', function () {
      var filter = apply(b.getAttribute('data-filter'));
      try { history.replaceState(null, '', '#verdict=' + filter); } catch (e) { /* file:// may refuse */ }
    });
  });
  document.getElementById('expand-all').addEventListener('click', function () {
    checks.forEach(function (c) { if (!c.hidden) { c.open = true; } });
  });
  document.getElementById('collapse-all').addEventListener('click', function () {
    checks.forEach(function (c) { c.open = false; });
  });
  cells.forEach(function (a) {
    a.addEventListener('click', function () {
      var target = document.getElementById(a.getAttribute('href').slice(1));
      if (target) {
        if (target.hidden) { apply('all'); }
        target.open = true;
      }
    });
  });
  nav.hidden = false;
  apply(fromHash());
}());
