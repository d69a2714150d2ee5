// idgov-web: the one script. The pages work without it; it only adds
// "select all shown" on the review list.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  var all = document.getElementById('select-all');
  if (!all) return;
  all.addEventListener('change', function () {
    var boxes = document.querySelectorAll('input[name=item]');
    for (var i = 0; i < boxes.length; i++) boxes[i].checked = all.checked;
  });
});
