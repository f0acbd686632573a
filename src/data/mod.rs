//! Datasets: readers for the image formats NAS papers use, behind one trait.
