DROP TABLE change_feed_state;
DROP TABLE change_events;
