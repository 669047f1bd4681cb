#!/bin/sh
# Makes video/face_motion.mp4 (640x480, 30 fps, 4 s): the frontal face photo faces/frontal_jesper.jpg
# panned and zoomed over time, so a tracker has a moving, scaling face. Needs ffmpeg (Debian).
# The committed file was made with Debian 12's ffmpeg 5.1 (libx264); re-running may differ in bytes.
set -eu
cd "$(dirname "$0")"
ffmpeg -y -loglevel error -loop 1 -i faces/frontal_jesper.jpg -vf \
  "scale=1280:-2,pad=1280:960:(ow-iw)/2:(oh-ih)/2,zoompan=z='1.15+0.25*sin(2*PI*on/120)':x='iw/2-(iw/zoom/2)+120*sin(2*PI*on/90)':y='ih/2-(ih/zoom/2)+60*cos(2*PI*on/120)':d=1:s=640x480:fps=30" \
  -frames:v 120 -c:v libx264 -preset slow -crf 24 -pix_fmt yuv420p -movflags +faststart video/face_motion.mp4

# video/face_motion_vp8.webm: the same frames as a browser camera would send them (VP8, no frames
# held back for reordering, a key frame every 2 s, ~1 Mbit/s): what `speakup loadgen` sends.
ffmpeg -y -loglevel error -i video/face_motion.mp4 -c:v libvpx -deadline realtime -cpu-used 4 -b:v 1M -minrate 1M \
  -maxrate 1M -g 60 -auto-alt-ref 0 -lag-in-frames 0 -an video/face_motion_vp8.webm
