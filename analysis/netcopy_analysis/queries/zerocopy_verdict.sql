-- What the kernel did with the MSG_ZEROCOPY sends of each cell, from the completions read
-- off the error queue: how many were copied (SO_EE_CODE_ZEROCOPY_COPIED) and how long the
-- reaping took.
-- Parameters: none.
SELECT mode, size, threads, rep,
       sum(newly_completed) AS completed,
       sum(CASE WHEN copied THEN newly_completed ELSE 0 END) AS copied,
       sum(CASE WHEN copied THEN newly_completed ELSE 0 END) / sum(newly_completed) AS copied_share,
       median(first_send_to_reap_ns) / 1e3 AS median_first_send_to_reap_us
FROM zerocopy
GROUP BY ALL
ORDER BY size, threads, rep;
