B
ln1.weightJ@ìËî>6H‰>çm >ÃV¼³a‹>n‘ã= q9¾ó×e¼ij?•q?2š8¿üd³?gÂ–?öø?c{¿F þ>